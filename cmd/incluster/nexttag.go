package main

import (
	"context"
	"fmt"

	"github.com/incluster/incluster/pipeline/registry"
	"github.com/incluster/incluster/pipeline/tag"
)

const nextTagUsage = `
Usage: incluster next-tag [flags] REPOSITORY
       incluster next-tag --commit SHA [--length N]

Print a new image tag on standard output.

With REPOSITORY (REGISTRY/OWNER/NAME, such as 127.0.0.1:3000/owner/app),
print the version after the highest version tag in the registry. A
version is MAJOR.MINOR or MAJOR.MINOR.PATCH with an optional "v" prefix;
the last number of the highest one is incremented in its own style
(v0.1 -> v0.2, v1.2.3 -> v1.2.4). Other tags, such as short SHAs, latest,
single numbers and pre-releases (v1.0.0-rc.1), are ignored. A repository
without a version tag, or that does not exist yet, gives v0.1.

With --commit, print the commit's short SHA (7 digits, or --length),
which needs no registry.

The token comes from --token-file or $INCLUSTER_TOKEN; without one the
registry is read anonymously.
`

func runNextTag(ctx context.Context, s *streams, args []string) error {
	fs := newFlagSet("next-tag", nextTagUsage)
	var creds credentialFlags
	creds.register(fs)
	var insecure stringList
	fs.Var(&insecure, "insecure", "registry `host` or host:port that speaks plain HTTP; may be repeated")
	commit := fs.String("commit", "", "print the short form of this commit `SHA` instead of a version")
	length := fs.Int("length", tag.DefaultShortLength, "number of digits of the short SHA, with --commit")
	positional, err := parse(fs, s, args)
	if err != nil {
		return err
	}

	if *commit != "" {
		if len(positional) != 0 {
			return usagef("next-tag: --commit takes no REPOSITORY, got %q", positional)
		}
		short, err := tag.FromCommit(*commit, *length)
		if err != nil {
			return usagef("next-tag: %v", err)
		}
		_, err = fmt.Fprintln(s.out, short)
		return err
	}

	if len(positional) != 1 {
		return usagef("next-tag: expected REPOSITORY or --commit SHA, got %d arguments\nRun 'incluster next-tag --help' for usage.", len(positional))
	}
	username, token, err := creds.resolve(s)
	if err != nil {
		return err
	}
	client := registry.New(registry.Options{
		Credentials: registry.Credentials{Username: username, Token: token},
		Insecure:    insecure,
		UserAgent:   "incluster/" + programVersion(),
	})
	if _, err := client.ParseRepository(positional[0]); err != nil {
		return usagef("next-tag: %v", err)
	}
	next, err := tag.NextFromRegistry(ctx, client, positional[0])
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(s.out, next)
	return err
}
