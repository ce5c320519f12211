package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

// version is set at build time:
//
//	go build -ldflags "-X main.version=v0.2" ./cmd/incluster
var version string

const versionUsage = `
Usage: incluster version

Print the program's version: the one stamped at build time with
-ldflags "-X main.version=...", else the module version Go recorded,
else "devel".
`

// programVersion returns the stamped version, the module version from
// the build information, or "devel".
func programVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "devel"
}

func runVersion(_ context.Context, s *streams, args []string) error {
	fs := newFlagSet("version", versionUsage)
	positional, err := parse(fs, s, args)
	if err != nil {
		return err
	}
	if len(positional) != 0 {
		return usagef("version: expected no arguments, got %q", positional)
	}
	_, err = fmt.Fprintln(s.out, programVersion())
	return err
}
