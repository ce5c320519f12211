package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"

	"github.com/incluster/incluster/pipeline/manifest"
	"github.com/incluster/incluster/pipeline/tag"
	"github.com/incluster/incluster/pipeline/writeback"
)

const bumpUsage = `
Usage: incluster bump [flags] --url URL --repo OWNER/NAME --file PATH REFERENCE...

Rewrite image references in manifest files of a git repository, commit
every changed file in one commit, and print the commit SHA on standard
output. When every file already has the references, nothing is
committed, nothing is printed on standard output, and the exit code is 0.

REFERENCE is IMAGE:TAG, IMAGE@sha256:... or IMAGE:TAG@sha256:..., such as
the output of 'incluster push'. Each reference replaces the tag and
digest of every use of IMAGE in the files (containers, init containers,
kustomization images, Helm values). With --image, the one REFERENCE
gives only the tag and digest, and --image names the image to match,
such as the cluster-internal name of the registry that was pushed to.

The gitea backend (default) commits through Gitea's API and can open a
pull request; the git backend pushes over HTTP or HTTPS to any git host. Both
retry on concurrent commits to the branch until --timeout.

The token comes from --token-file or $INCLUSTER_TOKEN. For Gitea it
needs the write:repository scope. The git backend sends it as the
password of --username (default x-access-token).
`

func runBump(ctx context.Context, s *streams, args []string) error {
	fs := newFlagSet("bump", bumpUsage)
	creds := credentialFlags{usernameOptional: true}
	creds.register(fs)
	var files stringList
	fs.Var(&files, "file", "manifest `path` in the repository, such as deploy/deployment.yaml; may be repeated")
	backend := fs.String("backend", "gitea", "write-back backend: gitea or git")
	url := fs.String("url", "", "base `URL` of Gitea (gitea backend) or of the git host (git backend)")
	repo := fs.String("repo", "", "repository as `OWNER/NAME`")
	branch := fs.String("branch", "main", "branch to read the manifests from")
	target := fs.String("target-branch", "", "branch to commit to (default: --branch); created from --branch if missing")
	pullRequest := fs.Bool("pull-request", false, "open a pull request from --target-branch into --branch (gitea backend)")
	image := fs.String("image", "", "image `repository` to match, overriding the one in the single REFERENCE")
	message := fs.String("message", "", "commit message as a Go text/template (default: \"Bump IMAGE:TAG\" and one line per change)")
	author := fs.String("author", "", "commit author as `\"Name <email>\"` (default: incluster <incluster@localhost>)")
	timeout := fs.Duration("timeout", writeback.DefaultTimeout, "maximum time for the bump, retries included")
	jsonOutput := fs.Bool("json", false, "print the result as JSON, with every change")
	quiet := fs.Bool("quiet", false, "print no progress messages")
	positional, err := parse(fs, s, args)
	if err != nil {
		return err
	}

	req, err := bumpRequest(fs, positional, *image)
	if err != nil {
		return err
	}
	req.Repository = *repo
	req.BaseBranch = *branch
	req.TargetBranch = *target
	req.Files = files
	req.MessageTemplate = *message
	req.Timeout = *timeout
	req.RunURL = writeback.RunURLFromEnv(s.getenv)
	if *author != "" {
		address, err := mail.ParseAddress(*author)
		if err != nil {
			return usagef("bump: --author %q: expected \"Name <email>\": %v", *author, err)
		}
		req.Author = writeback.Signature{Name: address.Name, Email: address.Address}
	}
	if *pullRequest {
		if *target == "" || *target == *branch {
			return usagef("bump: --pull-request needs a --target-branch other than --branch")
		}
		req.PullRequest = &writeback.PullRequest{}
	}
	if *url == "" {
		return usagef("bump: --url is required\nRun 'incluster bump --help' for usage.")
	}
	if *repo == "" {
		return usagef("bump: --repo is required\nRun 'incluster bump --help' for usage.")
	}
	if len(files) == 0 {
		return usagef("bump: at least one --file is required\nRun 'incluster bump --help' for usage.")
	}

	username, token, err := creds.resolve(s)
	if err != nil {
		return err
	}
	if token == "" {
		return usagef("bump: a token is required: set --token-file or $%s", envToken)
	}
	writer, err := newWriter(*backend, *url, username, token, messageLogger(s, *quiet))
	if err != nil {
		return err
	}

	result, err := writer.Write(ctx, req)
	if err != nil {
		return err
	}
	if !*quiet {
		printBumpSummary(s, req, result)
	}
	if *jsonOutput {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		return enc.Encode(result)
	}
	if result.Changed {
		_, err = fmt.Fprintln(s.out, result.Commit)
	}
	return err
}

// bumpRequest returns a request with the updates from the references.
func bumpRequest(fs *flag.FlagSet, refs []string, image string) (writeback.Request, error) {
	if len(refs) == 0 {
		return writeback.Request{}, usagef("bump: expected at least one REFERENCE\nRun 'incluster %s --help' for usage.", fs.Name())
	}
	if image != "" && len(refs) != 1 {
		return writeback.Request{}, usagef("bump: --image takes exactly one REFERENCE, got %d", len(refs))
	}
	var req writeback.Request
	for _, ref := range refs {
		u, err := parseImageReference(ref)
		if err != nil {
			return writeback.Request{}, usagef("bump: %v", err)
		}
		if image != "" {
			u.Image = image
		}
		req.Updates = append(req.Updates, u)
	}
	return req, nil
}

// parseImageReference splits IMAGE[:TAG][@sha256:HEX] into an update. A
// tag or a digest is required.
func parseImageReference(ref string) (manifest.Update, error) {
	var u manifest.Update
	rest := ref
	if i := strings.Index(rest, "@"); i >= 0 {
		u.Digest = rest[i+1:]
		rest = rest[:i]
		if !isSHA256Digest(u.Digest) {
			return manifest.Update{}, fmt.Errorf("reference %q: digest %q is not sha256: followed by 64 lower-case hexadecimal digits", ref, u.Digest)
		}
	}
	// A colon after the last slash starts the tag, and one before it is
	// part of a port.
	if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		u.Tag = rest[i+1:]
		rest = rest[:i]
		if err := tag.Validate(u.Tag); err != nil {
			return manifest.Update{}, fmt.Errorf("reference %q: %w", ref, err)
		}
	}
	u.Image = rest
	if u.Image == "" {
		return manifest.Update{}, fmt.Errorf("reference %q: the image name is empty", ref)
	}
	if u.Tag == "" && u.Digest == "" {
		return manifest.Update{}, fmt.Errorf("reference %q: expected IMAGE:TAG, IMAGE@sha256:... or IMAGE:TAG@sha256:...", ref)
	}
	return u, nil
}

func isSHA256Digest(d string) bool {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for _, r := range hex {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// newWriter returns the write-back backend named backend.
func newWriter(backend, url, username, token string, logger *slog.Logger) (writeback.Writer, error) {
	creds := writeback.Credentials{Token: writeback.NewToken(token)}
	switch backend {
	case "gitea":
		return writeback.NewGitea(writeback.GiteaConfig{URL: url, Credentials: creds, Logger: logger})
	case "git":
		return writeback.NewGit(writeback.GitConfig{URL: url, Username: username, Credentials: creds, Logger: logger})
	default:
		return nil, usagef("bump: --backend %q: expected gitea or git", backend)
	}
}

func printBumpSummary(s *streams, req writeback.Request, r writeback.Result) {
	if !r.Changed {
		fmt.Fprintf(s.err, "unchanged: %s already has the image references on %s\n", strings.Join(req.Files, ", "), r.Branch)
		return
	}
	fmt.Fprintf(s.err, "committed %s on %s: %d references in %s (%d attempts)\n", r.Commit, r.Branch, len(r.Changes), strings.Join(r.Files, ", "), r.Attempts)
	if r.PullRequestURL != "" {
		fmt.Fprintf(s.err, "pull request: %s\n", r.PullRequestURL)
	}
}
