//go:build stack

package e2e

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/internal/stacktest"
)

// The failure cases run in parallel after TestPodinfo, so the cases on
// podinfo reuse its build from the engine's cache and fail at the step
// under test within a minute or two.

// failureCase is a Gitea account with a manifest repository for one
// failing build-and-push call.
type failureCase struct {
	stack stacktest.Stack
	acct  *account
	repo  string
	head  string
}

// manifestPath is the manifest that the failure cases bump.
const manifestPath = "app/deployment.yaml"

// newFailureCase creates an account and a repository whose manifestPath
// names the image that build-and-push would push as app.
func newFailureCase(t *testing.T, app string) failureCase {
	t.Helper()
	s := stacktest.Get(t)
	acct := newAccount(t, s)
	image := s.ClusterGitea + "/" + acct.name + "/" + app + ":v0"
	repo := acct.createRepo(t, "deploy", map[string]string{manifestPath: deployment(app, image)})
	return failureCase{stack: s, acct: acct, repo: repo, head: acct.head(t, repo)}
}

// pipeline returns the call of src that the case would bump.
func (c failureCase) pipeline(src source, app string) pipeline {
	return pipeline{src: src, acct: c.acct, app: app, manifestRepo: c.repo, manifestPath: manifestPath}
}

// checkNothingPushed checks that the registry has no tag of app.
func (c failureCase) checkNothingPushed(t *testing.T, app string) {
	t.Helper()
	assert.Check(t, is.Len(c.acct.tags(t, c.stack.Registry, app), 0), "tags of %s/%s after the failure", c.acct.name, app)
}

// checkNothingCommitted checks that the manifest repository's main
// branch did not move.
func (c failureCase) checkNothingCommitted(t *testing.T) {
	t.Helper()
	assert.Check(t, is.Equal(c.acct.head(t, c.repo), c.head), "%s has a new commit after the failure", c.repo)
}

func TestFailingGoTest(t *testing.T) {
	t.Parallel()
	c := newFailureCase(t, "failingtest")
	run := buildAndPush(t, c.stack, c.pipeline(fixture(t, "failing-test"), "failingtest"))

	msg := failure(t, run)
	assert.Check(t, is.Contains(msg, "test"), "error does not name the test step")
	assert.Check(t, is.Contains(msg, "TestGreetingPunctuation"), "error does not name the failing test")
	assert.Check(t, is.Contains(msg, `greeting("e2e") = "hello, e2e", want "hello, e2e!"`), "error lacks the test's output")
	c.checkNothingPushed(t, "failingtest")
	c.checkNothingCommitted(t)
}

func TestPackageNotCompiling(t *testing.T) {
	t.Parallel()
	c := newFailureCase(t, "brokenbuild")
	run := buildAndPush(t, c.stack, c.pipeline(fixture(t, "broken-build"), "brokenbuild"))

	msg := failure(t, run)
	// go test compiles every package, so the test step is the first to
	// fail.
	assert.Check(t, is.Contains(msg, "test"), "error does not name the test step")
	assert.Check(t, is.Contains(msg, "main.go:7:2: undefined: startServer"), "error lacks the compiler's message")
	c.checkNothingPushed(t, "brokenbuild")
	c.checkNothingCommitted(t)
}

func TestWrongToken(t *testing.T) {
	t.Parallel()
	c := newFailureCase(t, "podinfo")
	p := c.pipeline(podinfo(t), "podinfo")
	p.pkg = podinfoPackage
	p.token = "e2e0" + randomHex(t) + randomHex(t) + randomHex(t) + randomHex(t)
	run := buildAndPush(t, c.stack, p)

	msg := failure(t, run)
	assert.Check(t, is.Contains(msg, "publish"), "error does not name the publish step")
	assert.Check(t, is.Contains(msg, c.stack.ClusterGitea+"/"+c.acct.name+"/podinfo"), "error does not name the image")
	c.checkNothingPushed(t, "podinfo")
	c.checkNothingCommitted(t)
}

func TestTokenWithoutPackageScope(t *testing.T) {
	t.Parallel()
	c := newFailureCase(t, "podinfo")
	p := c.pipeline(podinfo(t), "podinfo")
	p.pkg = podinfoPackage
	p.token = c.acct.createToken(t, "repository-only", scopeWriteRepository)
	run := buildAndPush(t, c.stack, p)

	msg := failure(t, run)
	assert.Check(t, is.Contains(msg, "publish"), "error does not name the publish step")
	assert.Check(t, is.Contains(msg, c.stack.ClusterGitea+"/"+c.acct.name+"/podinfo"), "error does not name the image")
	c.checkNothingPushed(t, "podinfo")
	c.checkNothingCommitted(t)
}

func TestUnknownManifestRepository(t *testing.T) {
	t.Parallel()
	c := newFailureCase(t, "podinfo")
	p := c.pipeline(podinfo(t), "podinfo")
	p.pkg = podinfoPackage
	p.manifestRepo = c.acct.name + "/no-such-repository"
	run := buildAndPush(t, c.stack, p)

	msg := failure(t, run)
	assert.Check(t, is.Contains(msg, "bump"), "error does not name the bump step")
	assert.Check(t, is.Contains(msg, p.manifestRepo), "error does not name the repository")
	c.checkNothingCommitted(t)
}

func TestMissingManifestPath(t *testing.T) {
	t.Parallel()
	c := newFailureCase(t, "podinfo")
	p := c.pipeline(podinfo(t), "podinfo")
	p.pkg = podinfoPackage
	p.manifestPath = "app/no-such-file.yaml"
	run := buildAndPush(t, c.stack, p)

	msg := failure(t, run)
	assert.Check(t, is.Contains(msg, "bump"), "error does not name the bump step")
	assert.Check(t, is.Contains(msg, p.manifestPath), "error does not name the manifest path")
	c.checkNothingCommitted(t)
}

func TestManifestWithoutImage(t *testing.T) {
	t.Parallel()
	s := stacktest.Get(t)
	acct := newAccount(t, s)
	repo := acct.createRepo(t, "deploy", map[string]string{manifestPath: deployment("web", "nginx:1.27")})
	c := failureCase{stack: s, acct: acct, repo: repo, head: acct.head(t, repo)}
	p := c.pipeline(podinfo(t), "podinfo")
	p.pkg = podinfoPackage
	run := buildAndPush(t, s, p)

	msg := failure(t, run)
	assert.Check(t, is.Contains(msg, "bump"), "error does not name the bump step")
	assert.Check(t, is.Contains(msg, manifestPath), "error does not name the manifest path")
	assert.Check(t, is.Contains(msg, s.ClusterGitea+"/"+acct.name+"/podinfo"), "error does not name the image it looked for")
	c.checkNothingCommitted(t)
	assert.Check(t, is.Equal(acct.readFile(t, repo, manifestPath), deployment("web", "nginx:1.27")), "manifest changed")
}
