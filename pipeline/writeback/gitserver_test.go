package writeback

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"gotest.tools/v3/assert"
)

// gitServer is a real git smart-HTTP server: git http-backend behind
// net/http/cgi, with basic authentication on the token.
type gitServer struct {
	URL string
	// Token may read and push, and ReadOnlyToken may only read.
	Token         string
	ReadOnlyToken string
	// Root contains the bare repositories, as Root/owner/name.git.
	Root string
	// dropPushResponses is how many more pushes are applied and then
	// get no response, because the server closes the connection.
	dropPushResponses atomic.Int32
	// failAfterDrop is how many requests fail with 503 after a dropped
	// push response, and failRequests counts them down.
	failAfterDrop atomic.Int32
	failRequests  atomic.Int32
}

const testToken = "s3cr3t-token-value-0123456789"

func newGitServer(t *testing.T) *gitServer {
	t.Helper()
	_, err := exec.LookPath("git")
	assert.NilError(t, err, "the git backend tests need the git CLI for git http-backend")
	execPath := strings.TrimSpace(runGit(t, "", "--exec-path"))
	backend := filepath.Join(execPath, "git-http-backend")
	_, err = os.Stat(backend)
	assert.NilError(t, err)

	s := &gitServer{Token: testToken, ReadOnlyToken: "read-only-" + testToken, Root: t.TempDir()}
	handler := &cgi.Handler{
		Path:   backend,
		Root:   "/",
		Stderr: io.Discard,
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.Root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + s.Root,
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, password, ok := r.BasicAuth()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		if s.failRequests.Add(-1) >= 0 {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		push := r.URL.Query().Get("service") == "git-receive-pack" || strings.HasSuffix(r.URL.Path, "/git-receive-pack")
		switch {
		case password == s.ReadOnlyToken && push:
			http.Error(w, "the token is read-only", http.StatusForbidden)
			return
		case password != s.Token && password != s.ReadOnlyToken:
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "invalid credentials", http.StatusUnauthorized)
			return
		}
		if push && r.Method == http.MethodPost && s.dropPushResponses.Add(-1) >= 0 {
			// The push runs to the end, but the client never sees
			// the result.
			handler.ServeHTTP(httptest.NewRecorder(), r)
			s.failRequests.Store(s.failAfterDrop.Load())
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// createRepo creates owner/name with one commit on main that adds files.
func (s *gitServer) createRepo(t *testing.T, name string, files map[string]string) {
	t.Helper()
	bare := filepath.Join(s.Root, name+".git")
	assert.NilError(t, os.MkdirAll(filepath.Dir(bare), 0o755))
	runGit(t, "", "init", "-q", "--bare", "-b", "main", bare)
	runGit(t, bare, "config", "http.receivepack", "true")

	work := t.TempDir()
	runGit(t, "", "init", "-q", "-b", "main", work)
	for path, content := range files {
		full := filepath.Join(work, path)
		assert.NilError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		assert.NilError(t, os.WriteFile(full, []byte(content), 0o644))
	}
	runGit(t, work, "add", "-A")
	runGit(t, work, "commit", "-q", "-m", "Add manifests")
	runGit(t, work, "push", "-q", bare, "main")
}

// rejectPushes installs a pre-receive hook in owner/name that rejects
// every push to branch with message.
func (s *gitServer) rejectPushes(t *testing.T, name, branch, message string) {
	t.Helper()
	hook := filepath.Join(s.Root, name+".git", "hooks", "pre-receive")
	script := "#!/bin/sh\nwhile read old new ref; do\n  if [ \"$ref\" = refs/heads/" + branch + " ]; then\n    echo '" + message + "' >&2\n    exit 1\n  fi\ndone\n"
	assert.NilError(t, os.WriteFile(hook, []byte(script), 0o755))
}

// git runs git with args in the bare repository owner/name.
func (s *gitServer) git(t *testing.T, name string, args ...string) string {
	t.Helper()
	return runGit(t, filepath.Join(s.Root, name+".git"), args...)
}

func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	assert.NilError(t, err, "git %s: %s", strings.Join(args, " "), stderr.String())
	return string(out)
}
