package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/mail"
	neturl "net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

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
pull request; the git backend pushes over HTTP or HTTPS to any git host
and opens no pull request. Both retry on concurrent commits to the
branch until --timeout. --url is the http:// or https:// address of
Gitea or of the git host, such as http://127.0.0.1:3000.

The token comes from --token-file, --token-secret or $INCLUSTER_TOKEN. For Gitea it
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
	timeout := fs.Duration("timeout", writeback.DefaultTimeout, "maximum time for the bump, retries included, such as 30s or 5m")
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
	if *backend != "gitea" && *backend != "git" {
		return usagef("bump: --backend %q: expected gitea or git", *backend)
	}
	if *pullRequest {
		if *backend == "git" {
			return usagef("bump: --pull-request needs the gitea backend: the git backend cannot open pull requests")
		}
		if *target == "" || *target == *branch {
			return usagef("bump: --pull-request needs a --target-branch other than --branch")
		}
		req.PullRequest = &writeback.PullRequest{}
	}
	if *url == "" {
		return usagef("bump: --url is required\nRun 'incluster bump --help' for usage.")
	}
	if err := checkURL(*url); err != nil {
		return err
	}
	if *repo == "" {
		return usagef("bump: --repo is required\nRun 'incluster bump --help' for usage.")
	}
	if len(files) == 0 {
		return usagef("bump: at least one --file is required\nRun 'incluster bump --help' for usage.")
	}
	if err := checkTimeout("bump", *timeout); err != nil {
		return err
	}

	username, token, err := creds.resolve(ctx, s)
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
	if errors.Is(err, manifest.ErrNoMatch) && len(req.Updates) == 1 {
		return noMatchError(req, *image, err)
	}
	if err != nil {
		return err
	}
	if !*quiet {
		printBumpSummary(s, req, result)
	}
	if *jsonOutput {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		return enc.Encode(newBumpOutput(result))
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
			if err := checkImageName(image); err != nil {
				return writeback.Request{}, usagef("bump: --image %q: %v", image, err)
			}
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
	if err := checkImageName(u.Image); err != nil {
		return manifest.Update{}, fmt.Errorf("reference %q: %w", ref, err)
	}
	if u.Tag == "" && u.Digest == "" {
		return manifest.Update{}, fmt.Errorf("reference %q: expected IMAGE:TAG, IMAGE@sha256:... or IMAGE:TAG@sha256:...", ref)
	}
	return u, nil
}

// checkImageName checks an image name without tag or digest, such as
// nginx or 127.0.0.1:3000/owner/app, against the rules of image
// references.
func checkImageName(image string) error {
	if _, err := name.NewRepository(image); err != nil {
		return fmt.Errorf("invalid image name: %w", err)
	}
	return nil
}

// noMatchError rewords err, a manifest.ErrNoMatch for the one update of
// req, to name --image, which the manifests may need.
func noMatchError(req writeback.Request, image string, err error) error {
	u := req.Updates[0]
	files := strings.Join(req.Files, ", ")
	message := fmt.Sprintf("bump: no reference to the image %s in %s: if the manifests name the image otherwise, such as by a cluster-internal registry address, pass that name with --image", u.Image, files)
	if image != "" {
		message = fmt.Sprintf("bump: no reference to the image %s (--image) in %s: check --image against the image in the manifests", u.Image, files)
	}
	return &wrappedError{message: message, err: err}
}

// checkURL checks that a --url is http:// or https:// with a host.
func checkURL(value string) error {
	u, err := neturl.Parse(value)
	if err == nil && u.User != nil {
		value = u.Redacted()
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("bump: --url %q: expected an http:// or https:// URL with a host, such as http://127.0.0.1:3000", value)
	}
	if u.User != nil {
		return usagef("bump: --url must not contain credentials: pass the token with --token-file or $%s", envToken)
	}
	return nil
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
	fmt.Fprintf(s.err, "committed %s on %s: %s in %s (%s)\n", r.Commit, r.Branch, plural(len(r.Changes), "reference"), strings.Join(r.Files, ", "), plural(r.Attempts, "attempt"))
	if r.PullRequestURL != "" {
		fmt.Fprintf(s.err, "pull request: %s\n", r.PullRequestURL)
	}
}

// bumpOutput is the --json output of bump. Its keys are camelCase, as in
// the output of push.
type bumpOutput struct {
	Changed        bool           `json:"changed"`
	Commit         string         `json:"commit"`
	Branch         string         `json:"branch"`
	Files          []string       `json:"files"`
	Changes        []changeOutput `json:"changes"`
	PullRequestURL string         `json:"pullRequestUrl"`
	Attempts       int            `json:"attempts"`
}

// changeOutput is one rewritten image reference of a bumpOutput.
type changeOutput struct {
	File     string `json:"file"`
	Document int    `json:"document"`
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Path     string `json:"path"`
	Line     int    `json:"line"`
	Offset   int    `json:"offset"`
	Old      string `json:"old"`
	New      string `json:"new"`
}

// newBumpOutput converts r, with empty lists rather than null.
func newBumpOutput(r writeback.Result) bumpOutput {
	out := bumpOutput{
		Changed:        r.Changed,
		Commit:         r.Commit,
		Branch:         r.Branch,
		Files:          append([]string{}, r.Files...),
		Changes:        make([]changeOutput, 0, len(r.Changes)),
		PullRequestURL: r.PullRequestURL,
		Attempts:       r.Attempts,
	}
	for _, c := range r.Changes {
		out.Changes = append(out.Changes, changeOutput{
			File: c.File, Document: c.Document, Kind: c.Kind, Name: c.Name,
			Path: c.Path, Line: c.Line, Offset: c.Offset, Old: c.Old, New: c.New,
		})
	}
	return out
}
