// Command incluster runs the pipeline steps that need no container
// engine: push an image to a registry, compute the next tag, and bump
// image references in manifests in a git repository. Run `incluster help`
// for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/incluster/incluster/pipeline/registry"
	"github.com/incluster/incluster/pipeline/writeback"
)

// Exit codes, listed in the help text.
const (
	exitOK        = 0
	exitFailure   = 1
	exitUsage     = 2
	exitTagExists = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &streams{in: os.Stdin, out: os.Stdout, err: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// streams are the program's standard streams and environment.
type streams struct {
	in     io.Reader
	out    io.Writer // machine-readable results
	err    io.Writer // messages for people
	getenv func(string) string
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, s *streams, args []string) error
}

func commands() []command {
	return []command{
		{"push", "push an OCI layout or image tarball to a registry", runPush},
		{"next-tag", "print the next version tag of a repository, or a commit's short SHA", runNextTag},
		{"bump", "rewrite image references in manifests of a git repository and commit", runBump},
		{"wait-rollout", "wait until the workloads that use an image run it", runWaitRollout},
		{"version", "print the program's version", runVersion},
	}
}

func run(ctx context.Context, args []string, s *streams) int {
	if len(args) == 0 {
		printUsage(s.err)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			return run(ctx, []string{args[1], "--help"}, s)
		}
		printUsage(s.out)
		return exitOK
	case "-version", "--version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name {
			return exitCode(s, c.run(ctx, s, args[1:]))
		}
	}
	fmt.Fprintf(s.err, "incluster: unknown command %q\nRun 'incluster help' for the list of commands.\n", name)
	return exitUsage
}

// exitCode prints err, if any, and returns the exit code for it.
func exitCode(s *streams, err error) int {
	var usage *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &usage):
		fmt.Fprintf(s.err, "incluster: %v\n", err)
		return exitUsage
	case errors.Is(err, writeback.ErrInvalidRequest):
		fmt.Fprintf(s.err, "incluster: %v\n", err)
		return exitUsage
	case errors.Is(err, registry.ErrTagExists):
		fmt.Fprintf(s.err, "incluster: %v\n", err)
		return exitTagExists
	default:
		fmt.Fprintf(s.err, "incluster: %v\n", err)
		return exitFailure
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, `Usage: incluster COMMAND [flags] [arguments]

incluster runs the pipeline steps that need no container engine.

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'incluster COMMAND --help' for the flags of a command.

Results (references, tags, commit SHAs) go to standard output, one per
line or as JSON with --json; messages go to standard error.

Exit codes:
  0  success, also when there was nothing to do (tag or manifest unchanged)
  1  failure, also a token file that is missing, unreadable or empty, and
     a timeout (see --timeout)
  2  invalid command line
  3  push rejected: the tag exists with a different digest (see --overwrite)
`)
}
