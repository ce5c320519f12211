//go:build stack

// Package e2e runs the Dagger module's build-and-push end to end: the
// dagger CLI calls the module in this repository against the local
// stack's engine and Gitea, on podinfo and on small fixture services in
// testdata/. hack/test runs it with the other stack tests.
//
// Expected duration, measured with podinfo: about 10 minutes with an
// empty engine cache, most of it podinfo's go test and go build, and
// about 4 minutes warm.
// NOTE: both figures are estimates for a 2-core machine shared with other
// builds; the engine's cache decides most of the time.
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
	args   []string
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
// a failed command, because the failure cases expect one. Every run is
// checked for secrets: neither a secret nor its basic-auth encoding may
// appear in the standard output or the standard error.
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
	checkNoSecrets(t, run, secrets)
	return run
}

func exitStatus(err error) string {
	if err == nil {
		return "succeeded"
	}
	return "failed: " + err.Error()
}

// checkNoSecrets fails t when run printed one of secrets, as it is or
// base64-encoded in a basic-auth header. The message names the secret's
// user, never the secret.
func checkNoSecrets(t *testing.T, run daggerRun, secrets []secret) {
	t.Helper()
	for _, sec := range secrets {
		if sec.value == "" {
			continue
		}
		forms := map[string]string{
			"as it is":               sec.value,
			"in a basic-auth header": base64.StdEncoding.EncodeToString([]byte(sec.user + ":" + sec.value)),
		}
		for form, text := range forms {
			if strings.Contains(run.stdout, text) {
				t.Errorf("%s: the standard output contains the token of %s %s", run.command(), sec.user, form)
			}
			if strings.Contains(run.stderr, text) {
				t.Errorf("%s: the standard error contains the token of %s %s", run.command(), sec.user, form)
			}
		}
	}
}

// tail returns the last n bytes of s, for failure messages.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
