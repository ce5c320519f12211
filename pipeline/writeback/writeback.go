// Package writeback commits image bumps to the manifests in a git
// repository without losing concurrent updates.
//
// A bump reads the manifest files at the tip of a branch, rewrites their
// image references with manifest.Rewrite, and commits every changed file in
// one commit. Two backends implement Writer: Gitea writes through Gitea's
// contents API, and Git pushes over git's smart HTTP protocol to any git
// host. Both treat a concurrent change to the branch as a conflict. They
// read the new tip, apply the rewrite again to the new content, and retry
// with backoff and jitter until Request.Timeout runs out. So no bump
// overwrites another, and a bump that succeeds has one commit.
package writeback

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/incluster/incluster/pipeline/manifest"
)

// Writer commits the manifest changes that a Request describes.
type Writer interface {
	// Write applies req.Updates to req.Files at the tip of the branch and
	// commits the changed files in one commit. A bump that changes
	// nothing returns a Result with Changed false and no error.
	Write(ctx context.Context, req Request) (Result, error)
}

// Sentinel errors that callers can branch on with errors.Is. Every error
// that Write returns wraps at most one of them.
var (
	// ErrConflict reports that concurrent changes to the branch kept
	// winning until the deadline, so the bump was not committed.
	ErrConflict = errors.New("conflicting concurrent updates")
	// ErrUnavailable reports that the server could not be reached, or
	// kept failing with server errors, until the deadline. NOTE: when the
	// connection failed after a commit was sent, that commit may have
	// landed all the same.
	ErrUnavailable = errors.New("server unavailable")
	// ErrRepositoryNotFound reports a missing repository, or one that
	// the token cannot see.
	ErrRepositoryNotFound = errors.New("repository not found")
	// ErrBranchNotFound reports a missing base branch.
	ErrBranchNotFound = errors.New("branch not found")
	// ErrFileNotFound reports a manifest file missing from the branch.
	ErrFileNotFound = errors.New("file not found")
	// ErrPermission reports a missing, invalid or read-only token.
	ErrPermission = errors.New("permission denied")
	// ErrProtectedBranch reports that the server rejected the commit on
	// the branch, through branch protection or a server-side hook.
	ErrProtectedBranch = errors.New("branch is protected")
	// ErrInvalidRequest reports a Request that fails validation.
	ErrInvalidRequest = errors.New("invalid write-back request")
)

// DefaultTimeout bounds a Write whose Request has no Timeout.
const DefaultTimeout = 2 * time.Minute

// pendingSearchDepth is how many of the latest commits on the branch a
// Write searches for its own commit after the response to it was lost.
const pendingSearchDepth = 50

// Request describes one bump.
type Request struct {
	// Repository is the repository path on the server, "owner/name".
	Repository string
	// BaseBranch is the branch to read the manifests from, such as "main".
	BaseBranch string
	// TargetBranch is the branch to commit to. Empty means BaseBranch.
	// A TargetBranch that does not exist yet is created from BaseBranch,
	// and one that exists receives the commit on top of its own tip.
	TargetBranch string
	// Files are the manifest paths in the repository, such as
	// "deploy/app/deployment.yaml".
	Files []string
	// Updates are the image references to write. Each must match an
	// image in at least one of Files.
	Updates []manifest.Update
	// MessageTemplate is a text/template for the commit message, executed
	// on MessageData. Empty means DefaultMessageTemplate.
	MessageTemplate string
	// Author and Committer sign the commit. An empty Committer means
	// Author; an empty Author means DefaultSignature.
	Author    Signature
	Committer Signature
	// RunURL, when set, is added as a "Pipeline-Run:" trailer to the
	// commit message. RunURLFromEnv builds it in GitHub Actions.
	RunURL string
	// PullRequest, when set and TargetBranch differs from BaseBranch,
	// requests a pull request from TargetBranch into BaseBranch. Only the
	// Gitea backend creates pull requests, and the git backend rejects a
	// Request that sets it.
	PullRequest *PullRequest
	// Timeout bounds the whole Write including retries. Zero means
	// DefaultTimeout. A deadline on the context also applies.
	Timeout time.Duration
}

// Signature is the name and email of a commit author or committer.
type Signature struct {
	Name  string
	Email string
}

// DefaultSignature signs commits whose Request has no Author.
var DefaultSignature = Signature{Name: "incluster", Email: "incluster@localhost"}

// PullRequest describes the pull request to open for a TargetBranch.
type PullRequest struct {
	// Title is the pull request title. Empty means the commit subject.
	Title string
	// Body is the pull request description. Empty means the commit body.
	Body string
}

// Result describes what a Write committed.
type Result struct {
	// Changed is false when every file already had the requested image
	// references, and then no commit was made.
	Changed bool
	// Commit is the SHA of the new commit, empty when nothing changed.
	Commit string
	// Branch is the branch that received the commit.
	Branch string
	// Changes lists every rewritten image reference.
	Changes []manifest.Change
	// Files lists the files that the commit changed.
	Files []string
	// PullRequestURL is the web address of the pull request from Branch,
	// when one was requested.
	PullRequestURL string
	// Attempts counts the commit attempts, 1 when there was no conflict.
	Attempts int
}

// target returns the branch that receives the commit.
func (r Request) target() string {
	if r.TargetBranch != "" {
		return r.TargetBranch
	}
	return r.BaseBranch
}

// validate checks the fields that every backend needs.
func (r Request) validate() error {
	owner, name, ok := strings.Cut(r.Repository, "/")
	if !ok || owner == "" || name == "" {
		return fmt.Errorf("%w: repository %q is not of the form owner/name", ErrInvalidRequest, r.Repository)
	}
	if r.BaseBranch == "" {
		return fmt.Errorf("%w: base branch is empty", ErrInvalidRequest)
	}

	if len(r.Files) == 0 {
		return fmt.Errorf("%w: no files", ErrInvalidRequest)
	}
	seen := make(map[string]bool, len(r.Files))
	for _, f := range r.Files {
		if f == "" || path.IsAbs(f) || path.Clean(f) != f || strings.HasPrefix(f, "../") || f == ".." {
			return fmt.Errorf("%w: file %q is not a clean path relative to the repository root", ErrInvalidRequest, f)
		}
		if seen[f] {
			return fmt.Errorf("%w: file %q is listed twice", ErrInvalidRequest, f)
		}
		seen[f] = true
	}

	if len(r.Updates) == 0 {
		return fmt.Errorf("%w: no image updates", ErrInvalidRequest)
	}
	images := make(map[string]bool, len(r.Updates))
	for _, u := range r.Updates {
		if u.Image == "" || (u.Tag == "" && u.Digest == "") {
			return fmt.Errorf("%w: update %q needs an image and a tag or digest", ErrInvalidRequest, reference(u))
		}
		if images[u.Image] {
			return fmt.Errorf("%w: image %s has more than one update", ErrInvalidRequest, u.Image)
		}
		images[u.Image] = true
	}

	if r.Timeout < 0 {
		return fmt.Errorf("%w: timeout %s is negative", ErrInvalidRequest, r.Timeout)
	}
	if _, err := parseMessageTemplate(r.MessageTemplate); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	return nil
}

// signatures returns the author and committer with defaults applied.
func (r Request) signatures() (author, committer Signature) {
	author = r.Author
	if author.Name == "" && author.Email == "" {
		author = DefaultSignature
	}
	committer = r.Committer
	if committer.Name == "" && committer.Email == "" {
		committer = author
	}
	return author, committer
}

// reference formats an update as an image reference: image:tag,
// image@digest or image:tag@digest.
func reference(u manifest.Update) string {
	ref := u.Image
	if u.Tag != "" {
		ref += ":" + u.Tag
	}
	if u.Digest != "" {
		ref += "@" + u.Digest
	}
	return ref
}
