package hack

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// These tests run hack/stack commands that fail or print before they
// build or start anything, so they need no stack and run without the
// stack build tag.

type stackRun struct {
	code   int
	stdout string
	stderr string
}

// runStack runs hack/stack in dir with a private state, cache and network
// namespace name, and the environment variables env, which take
// precedence.
func runStack(t *testing.T, dir string, env []string, args ...string) stackRun {
	t.Helper()
	script, err := filepath.Abs("stack")
	assert.NilError(t, err)
	tmp := t.TempDir()
	cmd := exec.Command(script, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + tmp,
		"INCLUSTER_CACHE=" + filepath.Join(tmp, "cache"),
		"INCLUSTER_STATE=" + filepath.Join(tmp, "state"),
		"INCLUSTER_NETNS=incluster-clitest",
		"GITEA_HTTP_PORT=1",
	}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err = cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else {
		assert.NilError(t, err)
	}
	return stackRun{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func TestStackWithoutCommand(t *testing.T) {
	r := runStack(t, ".", nil)

	assert.Check(t, is.Equal(r.code, 2))
	assert.Check(t, is.Equal(r.stdout, ""))
	assert.Check(t, is.Contains(r.stderr, "Usage: hack/stack COMMAND"))
}

func TestStackUnknownCommand(t *testing.T) {
	r := runStack(t, ".", nil, "frob")

	assert.Check(t, is.Equal(r.code, 2))
	assert.Check(t, is.Equal(r.stdout, ""))
	assert.Check(t, is.Equal(r.stderr, "stack: error: unknown command frob; run 'hack/stack help' for the commands\n"))
}

func TestStackHelp(t *testing.T) {
	r := runStack(t, ".", nil, "help")

	assert.Check(t, is.Equal(r.code, 0))
	assert.Check(t, is.Contains(r.stdout, "Usage: hack/stack COMMAND"))
	assert.Check(t, is.Equal(r.stderr, ""))
}

func TestStackUpInvalidPort(t *testing.T) {
	for _, port := range []string{"abc", "99999", "65536", "0", "-1", "03000", "30 00"} {
		t.Run(port, func(t *testing.T) {
			// Without Go on PATH, an up that misses the check fails at the
			// build instead of building Gitea for minutes.
			r := runStack(t, ".", []string{"GITEA_HTTP_PORT=" + port, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, "up", "gitea")
			assert.Check(t, is.Equal(r.code, 1))
			assert.Check(t, is.Contains(r.stderr, "GITEA_HTTP_PORT="))
			assert.Check(t, is.Contains(r.stderr, "is not a port: set it to an integer from 1 to 65535"))
			assert.Check(t, !strings.Contains(r.stderr, "building"), "up began a build: %s", r.stderr)
		})
	}
}

func TestStackEnvQuotesValues(t *testing.T) {
	state := filepath.Join(t.TempDir(), "it's a \"state\" $HOME")

	r := runStack(t, ".", []string{"INCLUSTER_STATE=" + state}, "env")
	assert.Assert(t, is.Equal(r.code, 0), "stderr: %s", r.stderr)

	// bash evaluates the output as a user's shell does.
	check := exec.Command("bash", "-c", `eval "$1" && printf '%s\n' "$INCLUSTER_STATE" "$INCLUSTER_GITEA_TOKEN_FILE" "$INCLUSTER_KUBECONFIG" "$_EXPERIMENTAL_DAGGER_RUNNER_HOST"`, "bash", r.stdout)
	out, err := check.CombinedOutput()
	assert.NilError(t, err, "eval failed: %s", out)
	assert.Check(t, is.DeepEqual(strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"), []string{
		state,
		filepath.Join(state, "gitea", "token"),
		filepath.Join(state, "kube", "admin.kubeconfig"),
		"unix://" + filepath.Join(state, "engine", "engine.sock"),
	}))
}

func TestStackEnvMakesStateAbsolute(t *testing.T) {
	dir := t.TempDir()

	r := runStack(t, dir, []string{"INCLUSTER_STATE=relative/state", "INCLUSTER_CACHE=relative/cache"}, "env")

	assert.Check(t, is.Equal(r.code, 0), "stderr: %s", r.stderr)
	assert.Check(t, is.Contains(r.stdout, "export INCLUSTER_STATE="+filepath.Join(dir, "relative", "state")+"\n"))
	assert.Check(t, is.Contains(r.stdout, "export INCLUSTER_CACHE="+filepath.Join(dir, "relative", "cache")+"\n"))
}

func TestStackEnvWarnsWhenStopped(t *testing.T) {
	r := runStack(t, ".", nil, "env")

	assert.Check(t, is.Equal(r.code, 0), "stderr: %s", r.stderr)
	assert.Check(t, is.Contains(r.stderr, "stack: warning: nothing runs in "))
	assert.Check(t, is.Contains(r.stdout, "export INCLUSTER_GITEA_URL=http://127.0.0.1:1\n"))
}

func TestStackEnvInvalidPort(t *testing.T) {
	r := runStack(t, ".", []string{"GITEA_HTTP_PORT=abc"}, "env")

	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Equal(r.stdout, ""))
	assert.Check(t, is.Contains(r.stderr, "GITEA_HTTP_PORT=abc is not a port"))
}
