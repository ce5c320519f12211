package writeback

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/pipeline/manifest"
)

const deploymentYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
        - name: app
          image: registry.example/team/app:v1
        - name: sidecar
          image: registry.example/team/sidecar:v1
`

const kustomizationYAML = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
images:
  - name: registry.example/team/app
    newName: registry.example/team/app
    newTag: v1
`

func newTestGit(t *testing.T, s *gitServer) *Git {
	t.Helper()
	w, err := NewGit(GitConfig{
		URL:         s.URL,
		Credentials: Credentials{Token: NewToken(s.Token)},
		Backoff:     Backoff{Initial: 5 * time.Millisecond, Max: 100 * time.Millisecond},
	})
	assert.NilError(t, err)
	return w
}

func appRequest(tag string) Request {
	return Request{
		Repository: "team/deploy",
		BaseBranch: "main",
		Files:      []string{"app/deployment.yaml"},
		Updates:    []manifest.Update{{Image: "registry.example/team/app", Tag: tag}},
		Author:     Signature{Name: "Bot", Email: "bot@example.com"},
		Timeout:    time.Minute,
	}
}

func TestGitWriteCommitsChange(t *testing.T) {
	s := newGitServer(t)
	s.createRepo(t, "team/deploy", map[string]string{"app/deployment.yaml": deploymentYAML, "README": "x\n"})
	w := newTestGit(t, s)

	req := appRequest("v2")
	req.RunURL = "https://github.com/team/app/actions/runs/42"
	res, err := w.Write(context.Background(), req)
	assert.NilError(t, err)
	assert.Check(t, res.Changed)
	assert.Check(t, is.Equal(res.Branch, "main"))
	assert.Check(t, is.Equal(res.Attempts, 1))
	assert.Check(t, is.DeepEqual(res.Files, []string{"app/deployment.yaml"}))
	assert.Check(t, is.Len(res.Changes, 1))

	head := strings.TrimSpace(s.git(t, "team/deploy", "rev-parse", "main"))
	assert.Check(t, is.Equal(head, res.Commit))
	content := s.git(t, "team/deploy", "show", "main:app/deployment.yaml")
	assert.Check(t, is.Contains(content, "image: registry.example/team/app:v2"))
	assert.Check(t, is.Contains(content, "image: registry.example/team/sidecar:v1"))
	msg := s.git(t, "team/deploy", "log", "-1", "--format=%an <%ae>%n%cn <%ce>%n%B", "main")
	assert.Check(t, is.Contains(msg, "Bot <bot@example.com>\nBot <bot@example.com>\nBump registry.example/team/app:v2\n"))
	assert.Check(t, is.Contains(msg, "registry.example/team/app:v1 -> registry.example/team/app:v2"))
	assert.Check(t, is.Contains(msg, "\n\nPipeline-Run: https://github.com/team/app/actions/runs/42\n"))
	checkCommitMatchesChanges(t, filepath.Join(s.Root, "team/deploy.git"), res.Commit, res.Files, res.Changes)
}

func TestGitWriteNoChange(t *testing.T) {
	s := newGitServer(t)
	s.createRepo(t, "team/deploy", map[string]string{"app/deployment.yaml": deploymentYAML})
	w := newTestGit(t, s)
	before := s.git(t, "team/deploy", "rev-parse", "main")

	res, err := w.Write(context.Background(), appRequest("v1"))
	assert.NilError(t, err)
	assert.Check(t, !res.Changed)
	assert.Check(t, is.Equal(res.Commit, ""))
	assert.Check(t, is.Equal(s.git(t, "team/deploy", "rev-parse", "main"), before))
}

func TestGitWriteSeveralFilesOneCommit(t *testing.T) {
	s := newGitServer(t)
	s.createRepo(t, "team/deploy", map[string]string{
		"app/deployment.yaml":    deploymentYAML,
		"app/kustomization.yaml": kustomizationYAML,
	})
	w := newTestGit(t, s)

	req := appRequest("v3")
	req.Files = []string{"app/deployment.yaml", "app/kustomization.yaml"}
	req.Updates = append(req.Updates, manifest.Update{Image: "registry.example/team/sidecar", Tag: "v9"})
	res, err := w.Write(context.Background(), req)
	assert.NilError(t, err)
	assert.Check(t, res.Changed)
	assert.Check(t, is.DeepEqual(res.Files, req.Files))
	checkCommitMatchesChanges(t, filepath.Join(s.Root, "team/deploy.git"), res.Commit, res.Files, res.Changes)
	assert.Check(t, is.Equal(strings.TrimSpace(s.git(t, "team/deploy", "rev-list", "--count", "main")), "2"))
}

func TestGitWriteTargetBranch(t *testing.T) {
	s := newGitServer(t)
	s.createRepo(t, "team/deploy", map[string]string{"app/deployment.yaml": deploymentYAML})
	w := newTestGit(t, s)
	base := strings.TrimSpace(s.git(t, "team/deploy", "rev-parse", "main"))

	req := appRequest("v2")
	req.TargetBranch = "deploy/app"
	res, err := w.Write(context.Background(), req)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Branch, "deploy/app"))
	assert.Check(t, is.Equal(strings.TrimSpace(s.git(t, "team/deploy", "rev-parse", "main")), base))
	assert.Check(t, is.Equal(strings.TrimSpace(s.git(t, "team/deploy", "rev-parse", "deploy/app~1")), base))

	// A second bump lands on top of the existing target branch.
	first := res.Commit
	req.Updates[0].Tag = "v3"
	res, err = w.Write(context.Background(), req)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(strings.TrimSpace(s.git(t, "team/deploy", "rev-parse", "deploy/app~1")), first))
	assert.Check(t, is.Contains(s.git(t, "team/deploy", "show", "deploy/app:app/deployment.yaml"), "app:v3"))
	assert.Check(t, is.Equal(strings.TrimSpace(s.git(t, "team/deploy", "rev-list", "--count", "deploy/app")), "3"))
}

func TestGitWriteConcurrentBumps(t *testing.T) {
	const n = 8
	s := newGitServer(t)
	s.createRepo(t, "team/deploy", map[string]string{"app/deployment.yaml": manyImagesDeployment(n)})
	w := newTestGit(t, s)
	base := strings.TrimSpace(s.git(t, "team/deploy", "rev-parse", "main"))

	outcomes := make([]bumpOutcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Each bump changes a different image, so every change
			// must survive in the file.
			req := appRequest("")
			req.Updates = []manifest.Update{{Image: imageName(i), Tag: "v2"}}
			outcomes[i].result, outcomes[i].err = w.Write(context.Background(), req)
		})
	}
	wg.Wait()
	attempts := 0
	for _, o := range outcomes {
		attempts += o.result.Attempts
	}
	t.Logf("%d bumps took %d attempts", n, attempts)
	checkConcurrentBumps(t, filepath.Join(s.Root, "team/deploy.git"), "main", base, "app/deployment.yaml", outcomes, "v2")
}

func TestGitWriteLostPushResponse(t *testing.T) {
	cases := []struct {
		name string
		// failAfter is how many requests fail after the lost response.
		failAfter    int32
		wantAttempts int
	}{
		// The listing after the failed push finds the new commit.
		{name: "found after push", failAfter: 0, wantAttempts: 1},
		// The listing fails too, and the next attempt finds it.
		{name: "found next attempt", failAfter: 1, wantAttempts: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newGitServer(t)
			s.createRepo(t, "team/deploy", map[string]string{"app/deployment.yaml": deploymentYAML})
			w := newTestGit(t, s)
			s.dropPushResponses.Store(1)
			s.failAfterDrop.Store(tc.failAfter)

			res, err := w.Write(context.Background(), appRequest("v2"))
			assert.NilError(t, err)
			assert.Check(t, res.Changed)
			assert.Check(t, is.Equal(res.Attempts, tc.wantAttempts))
			assert.Check(t, is.Len(res.Changes, 1))
			head := strings.TrimSpace(s.git(t, "team/deploy", "rev-parse", "main"))
			assert.Check(t, is.Equal(res.Commit, head))
			assert.Check(t, is.Equal(strings.TrimSpace(s.git(t, "team/deploy", "rev-list", "--count", "main")), "2"))
		})
	}
}

func TestGitWriteErrors(t *testing.T) {
	s := newGitServer(t)
	s.createRepo(t, "team/deploy", map[string]string{"app/deployment.yaml": deploymentYAML})
	s.rejectPushes(t, "team/deploy", "locked", "branch locked is protected")
	s.git(t, "team/deploy", "branch", "locked", "main")
	ctx := context.Background()

	cases := []struct {
		name   string
		token  string
		modify func(*Request)
		want   error
		// text, when set, is part of the expected message.
		text string
	}{
		{name: "missing repository", modify: func(r *Request) { r.Repository = "team/none" }, want: ErrRepositoryNotFound},
		{name: "missing branch", modify: func(r *Request) { r.BaseBranch = "none" }, want: ErrBranchNotFound},
		{name: "missing base of target", modify: func(r *Request) { r.BaseBranch = "none"; r.TargetBranch = "deploy/x" }, want: ErrBranchNotFound},
		{name: "missing file", modify: func(r *Request) { r.Files = []string{"app/none.yaml"} }, want: ErrFileNotFound},
		{name: "directory", modify: func(r *Request) { r.Files = []string{"app"} }, want: ErrFileNotFound, text: "read app in team/deploy@main: file not found: it is a directory"},
		{name: "unknown image", modify: func(r *Request) { r.Updates[0].Image = "registry.example/other" }, want: manifest.ErrNoMatch},
		{name: "wrong token", token: "wrong-" + testToken, want: ErrPermission},
		{name: "read-only token", token: s.ReadOnlyToken, want: ErrPermission},
		{name: "protected branch", modify: func(r *Request) { r.BaseBranch = "locked" }, want: ErrProtectedBranch},
		{name: "invalid repository", modify: func(r *Request) { r.Repository = "deploy" }, want: ErrInvalidRequest},
		{name: "pull request", modify: func(r *Request) { r.TargetBranch = "deploy/x"; r.PullRequest = &PullRequest{} }, want: ErrInvalidRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			token := s.Token
			if tc.token != "" {
				token = tc.token
			}
			w, err := NewGit(GitConfig{URL: s.URL, Credentials: Credentials{Token: NewToken(token)}})
			assert.NilError(t, err)
			req := appRequest("v2")
			if tc.modify != nil {
				tc.modify(&req)
			}
			_, err = w.Write(ctx, req)
			assert.Check(t, is.ErrorIs(err, tc.want))
			if tc.text != "" {
				assert.Check(t, is.ErrorContains(err, tc.text))
			}
			if err != nil {
				assert.Check(t, !strings.Contains(err.Error(), token), "the error shows the token: %v", err)
				t.Logf("error: %v", err)
			}
			assert.Check(t, !errors.Is(err, ErrConflict))
		})
	}
}
