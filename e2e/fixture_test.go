//go:build stack

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gotest.tools/v3/assert"
)

const (
	podinfoModule = "github.com/stefanprodan/podinfo"
	// podinfoModuleVersion is what the Go module proxy served as
	// podinfo@latest when this test was written.
	podinfoModuleVersion = "v1.8.1-0.20250910200901-e86405a8674e"
	// podinfoVersion is what podinfo --version prints at that commit
	// (pkg/version.VERSION).
	podinfoVersion = "6.9.2"
	// podinfoPackage is podinfo's server, one of its two main packages.
	podinfoPackage = "./cmd/podinfo"
	// podinfoManifest is podinfo's own Deployment, and podinfoImage the
	// image that it names.
	podinfoManifest = "kustomize/deployment.yaml"
	podinfoImage    = "ghcr.io/stefanprodan/podinfo"
)

// podinfoCommitTime is the date of the fixture's git commit: the time of
// podinfo's commit e86405a8674e, as its pseudo-version records it. A
// fixed date and author give the same commit SHA on every run.
var podinfoCommitTime = time.Date(2025, 9, 10, 20, 9, 1, 0, time.UTC)

// fixtureCommitTime is the date of the commit of the services in
// testdata/.
var fixtureCommitTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// source is a folder with a Go service in a git repository of one
// commit.
type source struct {
	dir        string
	commit     string
	commitTime time.Time
}

// sharedDir is a folder for fixtures that tests share, removed after the
// tests.
var sharedDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "incluster-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "create a folder for the fixtures: %v\n", err)
		os.Exit(1)
	}
	sharedDir = dir
	code := m.Run()
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintf(os.Stderr, "remove the fixtures' folder: %v\n", err)
	}
	os.Exit(code)
}

var (
	podinfoOnce   sync.Once
	podinfoSource source
	podinfoErr    error
)

// podinfo returns podinfo's source, prepared once for all tests so that
// they upload the same files and the engine reuses one build.
func podinfo(t *testing.T) source {
	t.Helper()
	podinfoOnce.Do(func() {
		podinfoSource, podinfoErr = preparePodinfo(filepath.Join(sharedDir, "podinfo"))
	})
	assert.NilError(t, podinfoErr, "prepare the podinfo fixture")
	return podinfoSource
}

// preparePodinfo copies podinfo from the host's module cache into dir,
// makes it a git repository and downloads its dependencies on the host,
// where the stack's Go module proxy serves them to the engine.
func preparePodinfo(dir string) (source, error) {
	out, err := runGo("", "mod", "download", "-json", podinfoModule+"@"+podinfoModuleVersion)
	if err != nil {
		return source{}, err
	}
	var module struct {
		Dir   string
		Error string
	}
	if err := json.Unmarshal([]byte(out), &module); err != nil {
		return source{}, fmt.Errorf("parse go mod download output %q: %w", out, err)
	}
	if module.Error != "" || module.Dir == "" {
		return source{}, fmt.Errorf("download %s@%s: %s", podinfoModule, podinfoModuleVersion, module.Error)
	}
	// CopyFS makes the copies writable, unlike the module cache.
	if err := os.CopyFS(dir, os.DirFS(module.Dir)); err != nil {
		return source{}, fmt.Errorf("copy %s to %s: %w", module.Dir, dir, err)
	}
	if _, err := runGo(dir, "mod", "download"); err != nil {
		return source{}, err
	}
	return commitAll(dir, "Import podinfo "+podinfoModuleVersion, podinfoCommitTime)
}

// fixture copies the service testdata/name into a temporary folder and
// commits it to a new git repository.
func fixture(t *testing.T, name string) source {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	assert.NilError(t, os.CopyFS(dir, os.DirFS(filepath.Join("testdata", name))))
	src, err := commitAll(dir, "Add "+name, fixtureCommitTime)
	assert.NilError(t, err)
	return src
}

// runGo runs the go command in dir and returns its standard output.
func runGo(dir string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return string(out), nil
}

// commitAll makes dir a git repository whose branch main has one commit
// of every file, dated at, by a fixed author, so the commit SHA depends
// on the files alone.
func commitAll(dir, message string, at time.Time) (source, error) {
	date := at.Format(time.RFC3339)
	env := append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=incluster e2e", "GIT_AUTHOR_EMAIL=e2e@example.invalid", "GIT_AUTHOR_DATE="+date,
		"GIT_COMMITTER_NAME=incluster e2e", "GIT_COMMITTER_EMAIL=e2e@example.invalid", "GIT_COMMITTER_DATE="+date)
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("git %s in %s: %w\n%s", strings.Join(args, " "), dir, err, out)
		}
		return strings.TrimSpace(string(out)), nil
	}
	steps := [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		{"-c", "commit.gpgSign=false", "commit", "-q", "-m", message},
	}
	for _, args := range steps {
		if _, err := git(args...); err != nil {
			return source{}, err
		}
	}
	commit, err := git("rev-parse", "HEAD")
	if err != nil {
		return source{}, err
	}
	return source{dir: dir, commit: commit, commitTime: at}, nil
}
