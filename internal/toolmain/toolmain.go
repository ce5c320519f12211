// Package toolmain is the shared main function of the programs under
// hack/ that take flags and run until done or interrupted.
package toolmain

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Run calls run with the program's arguments and a context that SIGINT and
// SIGTERM cancel. On an error it prints "NAME: ERROR" to standard error
// and exits with code 2 for a usage error (flag.ErrHelp) or 1 otherwise.
func Run(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	os.Exit(1)
}
