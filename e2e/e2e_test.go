//go:build stack

// Package e2e runs the Dagger module's build-and-push end to end: the
// dagger CLI calls the module in this repository against the local
// stack's engine and Gitea, on podinfo and on small fixture services in
// testdata/. hack/test runs it with the other stack tests.
//
// Expected duration, measured on a 2-core VM shared with other builds:
// about 5 minutes when the engine's cache lacks podinfo's build (go test
// and go build of podinfo take about 4), and about 1 minute warm.
package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/internal/stacktest"
)

// callTimeout bounds one dagger command, engine cache misses included.
const callTimeout = 25 * time.Minute

// moduleRoot returns the repository root, where dagger.json is.
func moduleRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("find the e2e package's folder: runtime.Caller failed")
	}
	return filepath.Dir(filepath.Dir(file))
}

// daggerRun is the outcome of one dagger command.
type daggerRun struct {
	args []string
	// report is the folder that build-and-push's report is exported to.
	report string
	stdout string
	stderr string
	err    error
}

// command returns the command line for messages.
func (r daggerRun) command() string {
	return "dagger " + strings.Join(r.args, " ")
}

// secret is a value that must never appear in the output of a run, with
// the user whose basic-auth header would also carry it.
type secret struct {
	user  string
	value string
}

// runDagger runs the stack's dagger CLI with args in dir, with env added
// to its environment, and returns what it printed. It does not fail t on
// a failed command, because the failure cases expect one. It fails t when
// the standard output or the standard error contains one of secrets.
func runDagger(t *testing.T, s stacktest.Stack, dir string, env []string, secrets []secret, args ...string) daggerRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	args = append([]string{"--progress=plain"}, args...)
	cmd := exec.CommandContext(ctx, s.DaggerBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"DO_NOT_TRACK=1",
		"DAGGER_NO_NAG=1",
		"_EXPERIMENTAL_DAGGER_RUNNER_HOST="+s.EngineHost)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	run := daggerRun{args: args, stdout: stdout.String(), stderr: stderr.String(), err: err}
	t.Logf("%s: %s after %s", run.command(), exitStatus(err), time.Since(start).Round(time.Second))
	checkNoSecrets(t, "the standard output of "+run.command(), run.stdout, secrets)
	checkNoSecrets(t, "the standard error of "+run.command(), run.stderr, secrets)
	return run
}

func exitStatus(err error) string {
	if err == nil {
		return "succeeded"
	}
	return "failed: " + err.Error()
}

// checkNoSecrets fails t when text, the output named where, contains
// one of secrets.
func checkNoSecrets(t *testing.T, where, text string, secrets []secret) {
	t.Helper()
	for _, found := range findSecrets(text, secrets) {
		t.Errorf("%s contains %s", where, found)
	}
}

// findSecrets describes each secret that text contains, as it is or
// base64-encoded in a basic-auth header. A description names the
// secret's user, never the secret.
func findSecrets(text string, secrets []secret) []string {
	var found []string
	for _, sec := range secrets {
		if sec.value == "" {
			continue
		}
		if strings.Contains(text, sec.value) {
			found = append(found, "the token of "+sec.user)
		}
		header := base64.StdEncoding.EncodeToString([]byte(sec.user + ":" + sec.value))
		if strings.Contains(text, header) {
			found = append(found, "the token of "+sec.user+" in a basic-auth header")
		}
	}
	return found
}

// tail returns the last n bytes of s, for failure messages.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

func TestFindSecretsInOutput(t *testing.T) {
	secrets := []secret{{user: "alice", value: "s3cr3t"}, {user: "bob", value: ""}}
	header := base64.StdEncoding.EncodeToString([]byte("alice:s3cr3t"))

	assert.Check(t, is.Len(findSecrets("no token here", secrets), 0))
	assert.Check(t, is.DeepEqual(findSecrets("token=s3cr3t", secrets), []string{"the token of alice"}))
	assert.Check(t, is.DeepEqual(findSecrets("Authorization: Basic "+header, secrets),
		[]string{"the token of alice in a basic-auth header"}))
}
