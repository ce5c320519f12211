package main

import (
	"context"
	"fmt"
	"time"

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

With --commit, print the commit's short SHA: its first 7 hexadecimal
digits, or --length of them (4 to 128). This needs no registry.

The token comes from --token-file, --token-secret or $INCLUSTER_TOKEN; without one the
registry is read anonymously. For Gitea the token needs the read:package
scope. Each request waits at most a minute for the registry's response,
and --timeout bounds the whole command.
`

// nextTagTimeout is the default --timeout of next-tag.
const nextTagTimeout = 30 * time.Second

func runNextTag(ctx context.Context, s *streams, args []string) error {
	fs := newFlagSet("next-tag", nextTagUsage)
	var creds credentialFlags
	creds.register(fs)
	var insecure stringList
	fs.Var(&insecure, "insecure", "registry `host` or host:port that speaks plain HTTP; may be repeated")
	commit := fs.String("commit", "", "print the short form of this commit `SHA` instead of a version")
	length := fs.Int("length", tag.DefaultShortLength, "number of digits of the short SHA, 4 to 128, with --commit")
	timeout := fs.Duration("timeout", nextTagTimeout, "maximum time to list the registry's tags, such as 30s or 2m")
	positional, err := parse(fs, s, args)
	if err != nil {
		return err
	}

	if isSet(fs, "commit") {
		return printShortCommit(s, positional, *commit, *length)
	}
	if isSet(fs, "length") {
		return usagef("next-tag: --length needs --commit\nRun 'incluster next-tag --help' for usage.")
	}
	if len(positional) != 1 {
		return usagef("next-tag: expected REPOSITORY or --commit SHA, got %s\nRun 'incluster next-tag --help' for usage.", plural(len(positional), "argument"))
	}
	if err := checkTimeout("next-tag", *timeout); err != nil {
		return err
	}
	username, token, err := creds.resolve(ctx, s)
	if err != nil {
		return err
	}
	client := registry.New(registry.Options{
		Credentials: registry.Credentials{Username: username, Token: token},
		Insecure:    insecure,
		UserAgent:   "incluster/" + programVersion(),
	})
	repository := positional[0]
	r, err := client.ParseRepository(repository)
	if err != nil {
		return usagef("next-tag: %v", err)
	}
	if err := checkOwnerName("next-tag", "repository", repository, r.RepositoryStr()); err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	next, err := tag.NextFromRegistry(ctx, client, repository)
	if err != nil {
		return withTimeout(ctx, err, *timeout)
	}
	_, err = fmt.Fprintln(s.out, next)
	return err
}

// printShortCommit prints the first length digits of the commit SHA.
func printShortCommit(s *streams, positional []string, commit string, length int) error {
	if len(positional) != 0 {
		return usagef("next-tag: --commit takes no REPOSITORY, got %q", positional)
	}
	if commit == "" {
		return usagef("next-tag: --commit: the commit SHA is empty")
	}
	// tag.FromCommit reads 0 as the default, which the flag shows as 7.
	if length < 4 || length > tag.MaxLength {
		return usagef("next-tag: --length %d: must be between 4 and %d", length, tag.MaxLength)
	}
	short, err := tag.FromCommit(commit, length)
	if err != nil {
		return usagef("next-tag: %v", err)
	}
	_, err = fmt.Fprintln(s.out, short)
	return err
}
