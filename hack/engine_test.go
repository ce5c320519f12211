//go:build stack

package hack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/internal/stacktest"
)

// runDagger runs the stack's dagger CLI in dir and returns its standard
// output. A failure shows the command's standard error.
func runDagger(t *testing.T, s stacktest.Stack, dir string, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.DaggerBin, append([]string{"--progress=plain"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DO_NOT_TRACK=1", "_EXPERIMENTAL_DAGGER_RUNNER_HOST="+s.EngineHost)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("dagger %s: %v\nstderr (last 4000 bytes):\n%s", strings.Join(args, " "), err, tail(stderr.String(), 4000))
	}
	return stdout.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// queryExec runs script with sh in a container of image, through a
// GraphQL query, and returns the script's standard output. A variable with
// the current time makes the engine run the script again each time.
func queryExec(t *testing.T, s stacktest.Stack, image string, env map[string]string, script string) string {
	t.Helper()
	chain := fmt.Sprintf("from(address: %q) { ", image)
	closing := "} "
	env["INCLUSTER_TEST_RUN"] = time.Now().Format(time.RFC3339Nano)
	for name, value := range env {
		chain += fmt.Sprintf("withEnvVariable(name: %q, value: %q) { ", name, value)
		closing += "} "
	}
	chain += fmt.Sprintf("withExec(args: [\"sh\", \"-c\", %q]) { stdout } ", script)
	query := "{ container { " + chain + closing + "} }"

	out := runDagger(t, s, t.TempDir(), query, "query")
	// The output nests one object per selection, and the innermost one
	// contains stdout.
	var answer map[string]any
	assert.NilError(t, json.Unmarshal([]byte(out), &answer), "query output: %s", out)
	var node any = answer
	for {
		object, ok := node.(map[string]any)
		assert.Assert(t, ok, "unexpected query output: %s", out)
		if stdout, ok := object["stdout"].(string); ok {
			return stdout
		}
		assert.Assert(t, is.Len(object, 1), "unexpected query output: %s", out)
		for _, child := range object {
			node = child
		}
	}
}

func TestEngineRunsMirroredGoImage(t *testing.T) {
	s := stacktest.Get(t)
	out := queryExec(t, s, s.GoImage, map[string]string{}, "go version")
	assert.Check(t, is.Contains(out, "go version go1."))
}

func TestEngineReachesClusterGitea(t *testing.T) {
	s := stacktest.Get(t)
	out := queryExec(t, s, s.GoImage, map[string]string{},
		"wget -q -O- http://"+s.ClusterGitea+"/api/v1/version")
	var version struct {
		Version string `json:"version"`
	}
	assert.NilError(t, json.Unmarshal([]byte(out), &version), "Gitea's answer: %s", out)
	assert.Check(t, version.Version != "", "Gitea's answer has no version: %s", out)
}

func TestEngineDownloadsFromClusterGoProxy(t *testing.T) {
	s := stacktest.Get(t)
	const module = "gotest.tools/v3@v3.5.2"
	// The proxy serves the host's module cache: make sure the module is in it.
	download := exec.Command("go", "mod", "download", module)
	download.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod")
	out, err := download.CombinedOutput()
	assert.NilError(t, err, "go mod download %s on the host: %s", module, out)

	script := "cd /tmp && go mod download -json " + module
	got := queryExec(t, s, s.GoImage, map[string]string{"GOPROXY": s.ClusterGoProxy, "GOFLAGS": ""}, script)
	var result struct {
		Version string
		Error   string
		Sum     string
	}
	assert.NilError(t, json.Unmarshal([]byte(got), &result), "go mod download output: %s", got)
	assert.Check(t, is.Equal(result.Error, ""))
	assert.Check(t, is.Equal(result.Version, "v3.5.2"))
	assert.Check(t, strings.HasPrefix(result.Sum, "h1:"), "sum %q", result.Sum)
}

// smokeModule is the source of a tiny Dagger module that the Go SDK loads.
const smokeModule = `package main

import (
	"context"
)

type Smoke struct{}

// Greet returns a greeting for name.
func (m *Smoke) Greet(name string) string {
	return "hello, " + name
}

// GoVersion runs go version in a container of image.
func (m *Smoke) GoVersion(ctx context.Context, image string) (string, error) {
	return dag.Container().From(image).WithExec([]string{"go", "version"}).Stdout(ctx)
}
`

func TestEngineLoadsGoSDKModule(t *testing.T) {
	s := stacktest.Get(t)
	dir := t.TempDir()
	// An empty --license keeps dagger init from downloading a license text
	// from spdx.org.
	runDagger(t, s, dir, "", "init", "--sdk=go", "--name=smoke", "--source=.", "--license=")
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(smokeModule), 0o644))

	// dagger init pins the module to the engine's version.
	fields := strings.Fields(runDagger(t, s, dir, "", "version"))
	assert.Assert(t, len(fields) > 1, "dagger version output: %v", fields)
	data, err := os.ReadFile(filepath.Join(dir, "dagger.json"))
	assert.NilError(t, err)
	var config struct {
		EngineVersion string `json:"engineVersion"`
	}
	assert.NilError(t, json.Unmarshal(data, &config), "dagger.json: %s", data)
	assert.Check(t, is.Equal(config.EngineVersion, fields[1]))

	out := runDagger(t, s, dir, "", "call", "greet", "--name=stack")
	assert.Check(t, is.Equal(strings.TrimSpace(out), "hello, stack"))

	out = runDagger(t, s, dir, "", "call", "go-version", "--image="+s.GoImage)
	assert.Check(t, is.Contains(out, "go version go1."))
}
