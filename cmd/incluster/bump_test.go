package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/pipeline/manifest"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
        - name: app
          # The pipeline bumps this reference.
          image: gitea-http.gitea.svc.cluster.local:3000/owner/app:v0.1
`

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseImageReference(t *testing.T) {
	for _, tc := range []struct {
		ref  string
		want manifest.Update
	}{
		{"127.0.0.1:3000/owner/app:v0.2", manifest.Update{Image: "127.0.0.1:3000/owner/app", Tag: "v0.2"}},
		{"127.0.0.1:3000/owner/app@" + testDigest, manifest.Update{Image: "127.0.0.1:3000/owner/app", Digest: testDigest}},
		{"127.0.0.1:3000/owner/app:v0.2@" + testDigest, manifest.Update{Image: "127.0.0.1:3000/owner/app", Tag: "v0.2", Digest: testDigest}},
		{"nginx:1.27", manifest.Update{Image: "nginx", Tag: "1.27"}},
	} {
		got, err := parseImageReference(tc.ref)
		assert.Check(t, err, "reference %q", tc.ref)
		assert.Check(t, is.DeepEqual(got, tc.want), "reference %q", tc.ref)
	}
}

func TestParseImageReferenceRejects(t *testing.T) {
	for _, tc := range []struct {
		ref  string
		want string
	}{
		{"127.0.0.1:3000/owner/app", "expected IMAGE:TAG, IMAGE@sha256:... or IMAGE:TAG@sha256:..."},
		{"127.0.0.1:3000/owner/app@sha256:abc", `digest "sha256:abc" is not sha256: followed by 64`},
		{"127.0.0.1:3000/owner/app:-v1", "a tag must start with a letter, a digit or '_'"},
		{":v1", "the image name is empty"},
		{"BAD IMAGE:v1", "invalid image name"},
	} {
		_, err := parseImageReference(tc.ref)
		assert.Check(t, is.ErrorContains(err, tc.want), "reference %q", tc.ref)
	}
}

// gitServer is git http-backend behind net/http/cgi, a real git
// smart-HTTP server, accepting any user with the given token.
type gitServer struct {
	URL  string
	root string
}

func startGitServer(t *testing.T, token string) *gitServer {
	t.Helper()
	execPath := strings.TrimSpace(runGit(t, "", "--exec-path"))
	s := &gitServer{root: t.TempDir()}
	handler := &cgi.Handler{
		Path:   filepath.Join(execPath, "git-http-backend"),
		Root:   "/",
		Stderr: io.Discard,
		Env:    []string{"GIT_PROJECT_ROOT=" + s.root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "HOME=" + s.root},
	}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, password, ok := r.BasicAuth(); !ok || password != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "invalid credentials", http.StatusUnauthorized)
			return
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(server.Close)
	s.URL = server.URL
	return s
}

// createRepo creates the bare repository name ("owner/app") with one
// commit on main that adds files.
func (s *gitServer) createRepo(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	bare := filepath.Join(s.root, name+".git")
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
	return bare
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

func TestBumpGit(t *testing.T) {
	const token = "bump-secret-token-0123456789"
	server := startGitServer(t, token)
	bare := server.createRepo(t, "owner/app", map[string]string{"deploy/deployment.yaml": deployment})
	env := []string{"INCLUSTER_TOKEN=" + token}
	args := []string{"bump", "--backend", "git", "--url", server.URL, "--repo", "owner/app",
		"--file", "deploy/deployment.yaml", "--author", "CI <ci@example.com>",
		"gitea-http.gitea.svc.cluster.local:3000/owner/app:v0.2@" + testDigest}

	first := runProgram(t, "", env, args...)

	assert.Check(t, is.Equal(first.code, 0), "stderr: %s", first.stderr)
	head := strings.TrimSpace(runGit(t, bare, "rev-parse", "main"))
	assert.Check(t, is.Equal(first.stdout, head+"\n"))
	assert.Check(t, is.Contains(first.stderr, "committed "+head+" on main"))
	content := runGit(t, bare, "show", "main:deploy/deployment.yaml")
	want := strings.Replace(deployment, "owner/app:v0.1", "owner/app:v0.2@"+testDigest, 1)
	assert.Check(t, is.Equal(content, want))
	assert.Check(t, is.Equal(strings.TrimSpace(runGit(t, bare, "log", "-1", "--format=%an <%ae>", "main")), "CI <ci@example.com>"))

	second := runProgram(t, "", env, args...)

	assert.Check(t, is.Equal(second.code, 0), "stderr: %s", second.stderr)
	assert.Check(t, is.Equal(second.stdout, ""))
	assert.Check(t, is.Contains(second.stderr, "unchanged: deploy/deployment.yaml already has the image references on main"))
	assert.Check(t, is.Equal(strings.TrimSpace(runGit(t, bare, "rev-parse", "main")), head), "no new commit")
	for name, r := range map[string]execution{"first": first, "second": second} {
		assert.Check(t, !strings.Contains(r.stdout+r.stderr, token), "%s run printed the token", name)
	}
}

func TestBumpImageOverride(t *testing.T) {
	const token = "bump-secret-token-0123456789"
	server := startGitServer(t, token)
	bare := server.createRepo(t, "owner/app", map[string]string{"deployment.yaml": deployment})

	r := runProgram(t, "", []string{"INCLUSTER_TOKEN=" + token}, "bump", "--backend", "git", "--url", server.URL,
		"--repo", "owner/app", "--file", "deployment.yaml", "--json",
		"--image", "gitea-http.gitea.svc.cluster.local:3000/owner/app", "127.0.0.1:3000/owner/app:v0.3@"+testDigest)

	assert.Check(t, is.Equal(r.code, 0), "stderr: %s", r.stderr)
	assert.Check(t, is.Contains(r.stdout, `"changed": true`))
	assert.Check(t, is.Contains(runGit(t, bare, "show", "main:deployment.yaml"), "image: gitea-http.gitea.svc.cluster.local:3000/owner/app:v0.3@"+testDigest))
	assert.Check(t, is.Contains(r.stderr, ": 1 reference in deployment.yaml (1 attempt)\n"))
}

func TestBumpJSON(t *testing.T) {
	const token = "bump-secret-token-0123456789"
	server := startGitServer(t, token)
	server.createRepo(t, "owner/app", map[string]string{"deployment.yaml": deployment})
	args := []string{"bump", "--backend", "git", "--url", server.URL, "--repo", "owner/app", "--file", "deployment.yaml",
		"--json", "--quiet", "gitea-http.gitea.svc.cluster.local:3000/owner/app:v0.3"}
	env := []string{"INCLUSTER_TOKEN=" + token}

	first := runProgram(t, "", env, args...)
	second := runProgram(t, "", env, args...)

	assert.Check(t, is.Equal(first.code, 0), "stderr: %s", first.stderr)
	assertCamelCaseKeys(t, first.stdout)
	var changed struct {
		Changed bool `json:"changed"`
		Changes []struct {
			File string `json:"file"`
			Line int    `json:"line"`
			New  string `json:"new"`
		} `json:"changes"`
	}
	assert.NilError(t, json.Unmarshal([]byte(first.stdout), &changed))
	assert.Check(t, changed.Changed)
	assert.Assert(t, is.Len(changed.Changes, 1))
	assert.Check(t, is.Equal(changed.Changes[0].File, "deployment.yaml"))
	assert.Check(t, is.Equal(changed.Changes[0].Line, 11))
	assert.Check(t, is.Equal(changed.Changes[0].New, "gitea-http.gitea.svc.cluster.local:3000/owner/app:v0.3"))

	assert.Check(t, is.Equal(second.code, 0), "stderr: %s", second.stderr)
	assert.Check(t, is.Contains(second.stdout, `"changed": false`))
	assert.Check(t, is.Contains(second.stdout, `"changes": []`))
	assert.Check(t, is.Contains(second.stdout, `"files": []`))
	assert.Check(t, !strings.Contains(second.stdout, "null"), "stdout: %s", second.stdout)
}

func TestBumpNoMatchNamesImageFlag(t *testing.T) {
	const token = "bump-secret-token-0123456789"
	server := startGitServer(t, token)
	server.createRepo(t, "owner/app", map[string]string{"deployment.yaml": deployment})
	base := []string{"bump", "--backend", "git", "--url", server.URL, "--repo", "owner/app", "--file", "deployment.yaml", "--timeout", "10s"}
	env := []string{"INCLUSTER_TOKEN=" + token}

	plain := runProgram(t, "", env, append(base, "127.0.0.1:3000/owner/app:v0.2")...)
	withImage := runProgram(t, "", env, append(base, "--image", "127.0.0.1:3000/other/app", "127.0.0.1:3000/owner/app:v0.2")...)

	assert.Check(t, is.Equal(plain.code, 1))
	assert.Check(t, is.Equal(plain.stderr, "incluster: bump: no reference to the image 127.0.0.1:3000/owner/app in deployment.yaml: "+
		"if the manifests name the image otherwise, such as by a cluster-internal registry address, pass that name with --image\n"))
	assert.Check(t, is.Equal(withImage.code, 1))
	assert.Check(t, is.Equal(withImage.stderr, "incluster: bump: no reference to the image 127.0.0.1:3000/other/app (--image) in deployment.yaml: "+
		"check --image against the image in the manifests\n"))
}

func TestBumpFailures(t *testing.T) {
	const token = "bump-secret-token-0123456789"
	server := startGitServer(t, token)
	server.createRepo(t, "owner/app", map[string]string{"deployment.yaml": deployment})
	base := []string{"bump", "--backend", "git", "--url", server.URL, "--repo", "owner/app", "--timeout", "10s"}
	for _, tc := range []struct {
		name  string
		token string
		args  []string
		want  string
	}{
		{"missing file", token, []string{"--file", "missing.yaml", "gitea-http.gitea.svc.cluster.local:3000/owner/app:v0.2"}, "missing.yaml"},
		{"no matching image", token, []string{"--file", "deployment.yaml", "127.0.0.1:3000/other/image:v0.2"}, "no reference to the image 127.0.0.1:3000/other/image in deployment.yaml"},
		{"unknown repository", token, []string{"--repo", "owner/none", "--file", "deployment.yaml", "gitea-http.gitea.svc.cluster.local:3000/owner/app:v0.2"}, "owner/none"},
		{"wrong token", "wrong-token-0123456789", []string{"--file", "deployment.yaml", "gitea-http.gitea.svc.cluster.local:3000/owner/app:v0.2"}, "permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runProgram(t, "", []string{"INCLUSTER_TOKEN=" + tc.token}, append(base, tc.args...)...)
			assert.Check(t, is.Equal(r.code, 1), "stderr: %s", r.stderr)
			assert.Check(t, is.Equal(r.stdout, ""))
			assert.Check(t, is.Contains(r.stderr, tc.want))
			assert.Check(t, !strings.Contains(r.stderr, tc.token), "the token is in the output")
		})
	}
}

func TestBumpUsageErrors(t *testing.T) {
	ref := "127.0.0.1:3000/owner/app:v0.2"
	full := []string{"--url", "http://127.0.0.1:1", "--repo", "owner/app", "--file", "d.yaml"}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no reference", []string{"INCLUSTER_TOKEN=t"}, full, "expected at least one REFERENCE"},
		{"reference without tag", []string{"INCLUSTER_TOKEN=t"}, append(full, "127.0.0.1:3000/owner/app"), "expected IMAGE:TAG"},
		{"image with two references", []string{"INCLUSTER_TOKEN=t"}, append(full, "--image", "x/y", ref, ref), "--image takes exactly one REFERENCE, got 2"},
		{"no URL", []string{"INCLUSTER_TOKEN=t"}, []string{"--repo", "owner/app", "--file", "d.yaml", ref}, "--url is required"},
		{"no repository", []string{"INCLUSTER_TOKEN=t"}, []string{"--url", "http://127.0.0.1:1", "--file", "d.yaml", ref}, "--repo is required"},
		{"no file", []string{"INCLUSTER_TOKEN=t"}, []string{"--url", "http://127.0.0.1:1", "--repo", "owner/app", ref}, "at least one --file is required"},
		{"no token", nil, append(full, ref), "a token is required"},
		{"unknown backend", []string{"INCLUSTER_TOKEN=t"}, append(full, "--backend", "svn", ref), `--backend "svn": expected gitea or git`},
		{"invalid author", []string{"INCLUSTER_TOKEN=t"}, append(full, "--author", "nobody", ref), `--author "nobody"`},
		{"pull request without target", []string{"INCLUSTER_TOKEN=t"}, append(full, "--pull-request", ref), "--pull-request needs a --target-branch"},
		{"pull request with git backend", []string{"INCLUSTER_TOKEN=t"}, append(full, "--backend", "git", "--pull-request", "--target-branch", "bump", ref), "--pull-request needs the gitea backend"},
		{"URL that is no URL", []string{"INCLUSTER_TOKEN=t"}, []string{"--url", "not a url", "--repo", "owner/app", "--file", "d.yaml", ref}, `--url "not a url": expected an http:// or https:// URL with a host`},
		{"FTP URL", []string{"INCLUSTER_TOKEN=t"}, []string{"--url", "ftp://127.0.0.1/", "--repo", "owner/app", "--file", "d.yaml", ref}, `--url "ftp://127.0.0.1/": expected an http:// or https:// URL`},
		{"URL without scheme", []string{"INCLUSTER_TOKEN=t"}, []string{"--url", "127.0.0.1:3300", "--repo", "owner/app", "--file", "d.yaml", ref}, `--url "127.0.0.1:3300": expected an http:// or https:// URL`},
		{"URL without host", []string{"INCLUSTER_TOKEN=t"}, []string{"--url", "http:///path", "--repo", "owner/app", "--file", "d.yaml", ref}, `--url "http:///path": expected an http:// or https:// URL with a host`},
		{"URL with credentials", []string{"INCLUSTER_TOKEN=t"}, []string{"--url", "http://u:secret@127.0.0.1:1", "--repo", "owner/app", "--file", "d.yaml", ref}, "--url must not contain credentials"},
		{"FTP URL with credentials", []string{"INCLUSTER_TOKEN=t"}, []string{"--url", "ftp://u:secret@127.0.0.1", "--repo", "owner/app", "--file", "d.yaml", ref}, `--url "ftp://u:xxxxx@127.0.0.1"`},
		{"zero timeout", []string{"INCLUSTER_TOKEN=t"}, append(full, "--timeout", "0s", ref), "--timeout 0s: must be positive"},
		{"negative timeout", []string{"INCLUSTER_TOKEN=t"}, append(full, "--timeout", "-1m", ref), "--timeout -1m0s: must be positive"},
		{"invalid image", []string{"INCLUSTER_TOKEN=t"}, append(full, "--image", "BAD IMAGE", ref), `--image "BAD IMAGE": invalid image name`},
		{"invalid repository", []string{"INCLUSTER_TOKEN=t"}, []string{"--url", "http://127.0.0.1:1", "--repo", "app", "--file", "d.yaml", ref}, `repository "app" is not of the form owner/name`},
		{"file outside the repository", []string{"INCLUSTER_TOKEN=t"}, []string{"--url", "http://127.0.0.1:1", "--repo", "owner/app", "--file", "../d.yaml", ref}, `file "../d.yaml" is not a clean path`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runProgram(t, "", tc.env, append([]string{"bump"}, tc.args...)...)
			assert.Check(t, is.Equal(r.code, 2), "stderr: %s", r.stderr)
			assert.Check(t, is.Equal(r.stdout, ""))
			assert.Check(t, is.Contains(r.stderr, tc.want))
			assert.Check(t, !strings.Contains(r.stderr, "secret"), "stderr: %s", r.stderr)
		})
	}
}
