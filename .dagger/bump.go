package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"

	"code.gitea.io/sdk/gitea"
	"github.com/pmezard/go-difflib/difflib"

	"github.com/incluster/incluster/pipeline/manifest"
	"github.com/incluster/incluster/pipeline/tag"
	"github.com/incluster/incluster/pipeline/writeback"
)

// manifestTarget is the manifest file to bump in a Gitea repository.
type manifestTarget struct {
	giteaURL   string
	token      string
	repository string
	path       string
	branch     string
	// image is the repository as the manifest names it, empty for the
	// pushed repository.
	image  string
	runURL string
	log    *slog.Logger
}

// validate checks the flags of the manifest target, so that build-and-push
// fails before the test step rather than after the push.
func (t manifestTarget) validate() error {
	if t.giteaURL == "" || t.repository == "" || t.path == "" {
		return errors.New("--gitea-url, --manifest-repo and --manifest-path are required")
	}
	u, err := url.Parse(t.giteaURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid --gitea-url %q: expected http:// or https:// and a host, such as http://gitea-http.gitea.svc.cluster.local:3000", t.giteaURL)
	}
	return nil
}

// reference is an image reference split into its parts.
type reference struct {
	Repository string
	Tag        string
	Digest     string
}

// parseReference splits REGISTRY/OWNER/NAME:TAG@sha256:... into its parts.
// The tag or the digest may be missing, but not both.
func parseReference(ref string) (reference, error) {
	var r reference
	rest, digest, hasDigest := strings.Cut(ref, "@")
	if hasDigest {
		if !strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64 {
			return r, fmt.Errorf("invalid reference %q: the digest must be sha256: and 64 hex digits", ref)
		}
		r.Digest = digest
	}
	// A colon after the last slash starts the tag; one before it belongs
	// to the registry's port.
	if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		rest, r.Tag = rest[:i], rest[i+1:]
		if err := tag.Validate(r.Tag); err != nil {
			return r, fmt.Errorf("invalid reference %q: %w", ref, err)
		}
	}
	if rest == "" || (r.Tag == "" && r.Digest == "") {
		return r, fmt.Errorf("invalid reference %q: expected REGISTRY/OWNER/NAME:TAG@sha256:...", ref)
	}
	r.Repository = rest
	return r, nil
}

// bump rewrites the image reference ref in the manifest file and commits
// it through Gitea's contents API. A manifest that already has the
// reference returns a Result with Changed false.
func bump(ctx context.Context, target manifestTarget, ref reference) (writeback.Result, error) {
	if err := target.validate(); err != nil {
		return writeback.Result{}, fmt.Errorf("bump: %w", err)
	}
	writer, err := writeback.NewGitea(writeback.GiteaConfig{
		URL:         target.giteaURL,
		Credentials: writeback.Credentials{Token: writeback.NewToken(target.token)},
		Logger:      target.log,
	})
	if err != nil {
		return writeback.Result{}, err
	}
	image := target.image
	if image == "" {
		image = ref.Repository
	}
	return writer.Write(ctx, writeback.Request{
		Repository: target.repository,
		BaseBranch: target.branch,
		Files:      []string{target.path},
		Updates:    []manifest.Update{{Image: image, Tag: ref.Tag, Digest: ref.Digest}},
		RunURL:     target.runURL,
	})
}

// manifestDiff renders a bump as a unified diff of each changed file. It
// reads each file back from Gitea at the new commit and restores its old
// content by undoing the changes. When that fails it logs why and falls
// back to changeDiff.
func manifestDiff(ctx context.Context, target manifestTarget, res writeback.Result) string {
	if !res.Changed {
		return ""
	}
	diff, err := fileDiffs(ctx, target, res)
	if err != nil {
		target.log.Warn("render the manifest diff failed, so the summary shows the changed values only", "error", err)
		return changeDiff(res.Changes)
	}
	return diff
}

func fileDiffs(ctx context.Context, target manifestTarget, res writeback.Result) (string, error) {
	owner, repo, _ := strings.Cut(target.repository, "/")
	client, err := gitea.NewClient(target.giteaURL, gitea.SetToken(target.token), gitea.SetContext(ctx))
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", target.giteaURL, err)
	}
	var b strings.Builder
	for _, file := range res.Files {
		data, _, err := client.GetFile(owner, repo, res.Commit, file)
		if err != nil {
			return "", fmt.Errorf("read %s at %s in %s: %w", file, res.Commit, target.repository, err)
		}
		var changes []manifest.Change
		for _, c := range res.Changes {
			if c.File == file {
				changes = append(changes, c)
			}
		}
		old, err := undo(data, changes)
		if err != nil {
			return "", err
		}
		diff, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A:        difflib.SplitLines(string(old)),
			B:        difflib.SplitLines(string(data)),
			FromFile: "a/" + file,
			ToFile:   "b/" + file,
			Context:  3,
		})
		if err != nil {
			return "", fmt.Errorf("diff %s: %w", file, err)
		}
		b.WriteString(diff)
	}
	return b.String(), nil
}

// undo returns the content of a file before changes, given its content
// after them. Each change's Offset is a byte offset in the old content.
func undo(data []byte, changes []manifest.Change) ([]byte, error) {
	changes = slices.Clone(changes)
	slices.SortFunc(changes, func(a, b manifest.Change) int { return a.Offset - b.Offset })
	var old []byte
	pos := 0   // bytes of data copied so far
	delta := 0 // growth of the content by the changes so far
	for _, c := range changes {
		at := c.Offset + delta
		if at < pos || at+len(c.New) > len(data) || string(data[at:at+len(c.New)]) != c.New {
			return nil, fmt.Errorf("undo the change at line %d of %s: the committed file differs", c.Line, c.File)
		}
		old = append(old, data[pos:at]...)
		old = append(old, c.Old...)
		pos = at + len(c.New)
		delta += len(c.New) - len(c.Old)
	}
	return append(old, data[pos:]...), nil
}

// changeDiff renders the changes of a bump as a diff of the rewritten
// values, one hunk per reference, with the line each one is on.
func changeDiff(changes []manifest.Change) string {
	var b strings.Builder
	file := ""
	for _, c := range changes {
		if c.File != file {
			file = c.File
			fmt.Fprintf(&b, "--- a/%s\n+++ b/%s\n", file, file)
		}
		where := c.Path
		if c.Kind != "" {
			where = c.Kind + "/" + c.Name + " " + c.Path
		}
		fmt.Fprintf(&b, "@@ -%d +%d @@ %s\n-%s\n+%s\n", c.Line, c.Line, where, c.Old, c.New)
	}
	return b.String()
}
