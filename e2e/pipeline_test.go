//go:build stack

package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"gotest.tools/v3/assert"

	"github.com/incluster/incluster/internal/stacktest"
)

// tokenEnv is the variable that passes the token to dagger call, which
// reads it as the secret env:INCLUSTER_E2E_TOKEN.
const tokenEnv = "INCLUSTER_E2E_TOKEN"

// pipeline is one build-and-push call against the local stack.
type pipeline struct {
	src  source
	acct *account
	// token is the token passed to the module. Empty means acct.token.
	token string
	app   string
	// pkg is the main package to build. Empty means the module's default.
	pkg          string
	manifestRepo string
	manifestPath string
	// extra are more flags of build-and-push.
	extra []string
}

// buildAndPush runs dagger call build-and-push for p. The images are
// pushed to the registry at the cluster-internal address, as a runner in
// the cluster would. Neither the account's token nor p.token may appear
// in the output.
func buildAndPush(t *testing.T, s stacktest.Stack, p pipeline) daggerRun {
	t.Helper()
	token := p.token
	if token == "" {
		token = p.acct.token
	}
	args := []string{
		"-m", moduleRoot(t), "call", "build-and-push",
		"--source", p.src.dir,
		"--registry", s.ClusterGitea,
		"--owner", p.acct.name,
		"--app", p.app,
		"--username", p.acct.name,
		"--token", "env:" + tokenEnv,
		"--manifest-repo", p.manifestRepo,
		"--manifest-path", p.manifestPath,
		"--gitea-url", "http://" + s.ClusterGitea,
		"--go-image", s.GoImage,
		"--base-image", s.BaseImage,
		"--goproxy", s.ClusterGoProxy,
	}
	if p.pkg != "" {
		args = append(args, "--package", p.pkg)
	}
	args = append(args, p.extra...)
	secrets := []secret{p.acct.secret(), {user: p.acct.name, value: token}}
	return runDagger(t, s, t.TempDir(), []string{tokenEnv + "=" + token}, secrets, args...)
}

// result is what build-and-push prints.
type result struct {
	// reference is REGISTRY/OWNER/APP:TAG@sha256:...
	reference string
	// commit is the manifest commit, empty when nothing changed.
	commit string
}

var (
	referencePattern = regexp.MustCompile(`\S+:[^\s@]+@sha256:[0-9a-f]{64}`)
	commitPattern    = regexp.MustCompile(`\b[0-9a-f]{40}\b`)
)

// parseResult reads the reference and the commit from a successful run.
// TODO: parse the module's result shape once it is fixed.
func parseResult(t *testing.T, run daggerRun) result {
	t.Helper()
	requireSuccess(t, run)
	var res result
	res.reference = referencePattern.FindString(run.stdout)
	assert.Assert(t, res.reference != "", "%s printed no reference with digest:\n%s", run.command(), run.stdout)
	res.commit = commitPattern.FindString(run.stdout)
	return res
}

// requireSuccess stops the test when run failed, showing its error.
func requireSuccess(t *testing.T, run daggerRun) {
	t.Helper()
	if run.err != nil {
		t.Fatalf("%s: %v\nstandard error (end):\n%s", run.command(), run.err, tail(run.stderr, 6000))
	}
}

// failure returns the error that a failed run reports, failing t when
// the run succeeded.
func failure(t *testing.T, run daggerRun) string {
	t.Helper()
	if run.err == nil {
		t.Fatalf("%s succeeded, want a failure; output:\n%s", run.command(), run.stdout)
	}
	return run.stderr
}

// deployment returns a Deployment manifest whose one container runs image.
func deployment(name, image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
    spec:
      containers:
      - name: %[1]s
        image: %[2]s
`, name, image)
}

// splitReference splits REGISTRY/REPOSITORY:TAG@DIGEST.
func splitReference(t *testing.T, ref string) (repository, tag, digest string) {
	t.Helper()
	named, digest, ok := strings.Cut(ref, "@")
	assert.Assert(t, ok, "reference %q has no digest", ref)
	i := strings.LastIndex(named, ":")
	assert.Assert(t, i > strings.LastIndex(named, "/"), "reference %q has no tag", ref)
	return named[:i], named[i+1:], digest
}
