package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/incluster/incluster/pipeline/registry"
)

const pushUsage = `
Usage: incluster push [flags] IMAGE REFERENCE

Push IMAGE to REFERENCE and print REFERENCE@sha256:... on standard output.

IMAGE is an OCI image layout directory, a tarball of one (as Dagger's
Container.Export writes it) or a docker tarball (docker save); a tarball
may be gzip-compressed. REFERENCE is REGISTRY/OWNER/NAME:TAG, such as
127.0.0.1:3000/owner/app:v0.2: the tag is required, a digest is not
accepted, and the name is exactly OWNER/NAME, as Gitea's registry
requires. The owner must exist; Gitea creates the repository on the
first push.

Only blobs the registry lacks are uploaded. A tag that already points at
the image is left alone and the command succeeds. A tag that points at a
different digest is not moved unless --overwrite is given: the command
exits with code 3 and prints both digests.

The token comes from --token-file, --token-secret or $INCLUSTER_TOKEN; without one the
push is anonymous. For Gitea the token needs the write:package scope.
Registries at localhost:PORT and 127.0.0.1 are reached over plain HTTP;
name other plain-HTTP registries with --insecure. Each request waits at
most a minute for the registry's response, and --timeout bounds the
whole push.
`

// pushTimeout is the default --timeout of push.
const pushTimeout = 5 * time.Minute

func runPush(ctx context.Context, s *streams, args []string) error {
	fs := newFlagSet("push", pushUsage)
	var creds credentialFlags
	creds.register(fs)
	var insecure stringList
	fs.Var(&insecure, "insecure", "registry `host` or host:port that speaks plain HTTP; may be repeated")
	overwrite := fs.Bool("overwrite", false, "move the tag if it points at a different digest")
	timeout := fs.Duration("timeout", pushTimeout, "maximum time for the push, such as 30s or 10m")
	jsonOutput := fs.Bool("json", false, "print the result as JSON, with the bytes uploaded per blob")
	quiet := fs.Bool("quiet", false, "print no progress messages")
	positional, err := parse(fs, s, args)
	if err != nil {
		return err
	}
	if len(positional) != 2 {
		return usagef("push: expected IMAGE and REFERENCE, got %s\nRun 'incluster push --help' for usage.", plural(len(positional), "argument"))
	}
	if err := checkTimeout("push", *timeout); err != nil {
		return err
	}
	image, ref := positional[0], positional[1]
	username, token, err := creds.resolve(ctx, s)
	if err != nil {
		return err
	}

	client := registry.New(registry.Options{
		Credentials: registry.Credentials{Username: username, Token: token},
		Insecure:    insecure,
		Logger:      messageLogger(s, *quiet),
		UserAgent:   "incluster/" + programVersion(),
	})
	// Check the reference before reading a possibly large tarball.
	if err := checkPushReference(client, ref); err != nil {
		return err
	}
	src, err := registry.Open(image)
	if err != nil {
		return err
	}
	defer src.Close()

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	result, err := client.Push(ctx, registry.PushRequest{Artifact: src.Artifact, Reference: ref, Overwrite: *overwrite})
	var exists *registry.TagExistsError
	if errors.As(err, &exists) {
		return &wrappedError{
			message: fmt.Sprintf("push %s: tag exists with digest %s, not %s: choose a new tag, or pass --overwrite to move it", exists.Reference, exists.Existing, exists.Pushing),
			err:     err,
		}
	}
	if err != nil {
		return withTimeout(ctx, err, *timeout)
	}
	if !*quiet {
		printPushSummary(s, result)
	}
	if *jsonOutput {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		return enc.Encode(result)
	}
	_, err = fmt.Fprintln(s.out, result.Reference)
	return err
}

// checkPushReference checks that ref is REGISTRY/OWNER/NAME:TAG.
func checkPushReference(client *registry.Client, ref string) error {
	const form = "expected REGISTRY/OWNER/NAME:TAG, such as 127.0.0.1:3000/owner/app:v0.2"
	if strings.Contains(ref, "@") {
		return usagef("push: reference %q: give a tag, not a digest: %s", ref, form)
	}
	// A colon after the last slash starts the tag, and one before it is
	// part of a port.
	if i := strings.LastIndex(ref, ":"); i < 0 || i < strings.LastIndex(ref, "/") {
		return usagef("push: reference %q: a tag is required: %s", ref, form)
	}
	t, err := client.ParseTag(ref)
	if err != nil {
		return usagef("push: %v", err)
	}
	return checkOwnerName("push", "reference", ref, t.RepositoryStr())
}

func printPushSummary(s *streams, r registry.Result) {
	uploaded := 0
	for _, b := range r.Blobs {
		if b.Uploaded {
			uploaded++
		}
	}
	switch {
	case r.Unchanged:
		fmt.Fprintf(s.err, "unchanged: the tag already points at %s\n", r.Digest)
	case r.Overwritten != "":
		fmt.Fprintf(s.err, "pushed %d of %s (%s); moved the tag from %s\n", uploaded, plural(len(r.Blobs), "blob"), plural(int(r.BytesUploaded()), "byte"), r.Overwritten)
	default:
		fmt.Fprintf(s.err, "pushed %d of %s (%s)\n", uploaded, plural(len(r.Blobs), "blob"), plural(int(r.BytesUploaded()), "byte"))
	}
}

// messageLogger returns a logger that writes messages for people to
// standard error, without time stamps, or discards them if quiet.
func messageLogger(s *streams, quiet bool) *slog.Logger {
	if quiet {
		return nil
	}
	return slog.New(slog.NewTextHandler(s.err, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return a
		},
	}))
}
