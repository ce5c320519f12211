//go:build stack

package e2e

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/internal/stacktest"
)

// The failure cases run in parallel after TestPodinfo, which is not
// parallel. So the cases on podinfo find its test and build in the
// engine's cache and reach the step under test within seconds.

// failureCase is a Gitea account with a manifest repository for one
// failing build-and-push call.
type failureCase struct {
	stack stacktest.Stack
	acct  *account
	repo  string
	// head is the commit at the tip of repo's main branch before the call.
	head string
}

// manifestPath is the manifest that the failure cases bump.
const manifestPath = "app/deployment.yaml"

// newFailureCase creates an account and a repository whose manifestPath
// contains manifest.
func newFailureCase(t *testing.T, manifest string) failureCase {
	t.Helper()
	s := stacktest.Get(t)
	acct := newAccount(t, s)
	repo := acct.createRepo(t, "deploy", map[string]string{manifestPath: manifest})
	return failureCase{stack: s, acct: acct, repo: repo, head: acct.head(t, repo)}
}

// newBumpableCase creates a failure case whose manifest names the image
// that build-and-push pushes as app, so that only the step under test
// can fail.
func newBumpableCase(t *testing.T, app string) failureCase {
	t.Helper()
	s := stacktest.Get(t)
	acct := newAccount(t, s)
	image := s.ClusterGitea + "/" + acct.name + "/" + app + ":v0"
	repo := acct.createRepo(t, "deploy", map[string]string{manifestPath: deployment(app, image)})
	return failureCase{stack: s, acct: acct, repo: repo, head: acct.head(t, repo)}
}

// image returns the repository REGISTRY/OWNER/APP that build-and-push
// pushes app to.
func (c failureCase) image(app string) string {
	return c.stack.ClusterGitea + "/" + c.acct.name + "/" + app
}

// pipeline returns a build-and-push call of src as app that bumps the
// case's manifest.
func (c failureCase) pipeline(src source, app string) pipeline {
	return pipeline{src: src, acct: c.acct, app: app, manifestRepo: c.repo, manifestPath: manifestPath}
}

// podinfoPipeline returns the case's call on podinfo's server.
func (c failureCase) podinfoPipeline(t *testing.T) pipeline {
	p := c.pipeline(podinfo(t), "podinfo")
	p.pkg = podinfoPackage
	return p
}

// checkNothingPushed checks that the registry has no tag of app.
func (c failureCase) checkNothingPushed(t *testing.T, app string) {
	t.Helper()
	assert.Check(t, is.Len(c.acct.tags(t, c.stack.Registry, app), 0), "tags of %s after the failure", c.image(app))
}

// checkNothingCommitted checks that the manifest repository's main
// branch did not move.
func (c failureCase) checkNothingCommitted(t *testing.T) {
	t.Helper()
	assert.Check(t, is.Equal(c.acct.head(t, c.repo), c.head), "%s has a new commit after the failure", c.repo)
}

func TestFailingGoTest(t *testing.T) {
	t.Parallel()
	c := newBumpableCase(t, "failingtest")
	run := buildAndPush(t, c.stack, c.pipeline(fixture(t, "failing-test"), "failingtest"))

	msg := failure(t, run)
	assert.Check(t, is.Contains(msg, "test step failed"))
	assert.Check(t, is.Contains(msg, "--- FAIL: TestGreetingPunctuation"))
	assert.Check(t, is.Contains(msg, `greeting("e2e") = "hello, e2e", want "hello, e2e!"`))
	c.checkNothingPushed(t, "failingtest")
	c.checkNothingCommitted(t)
}

func TestPackageNotCompiling(t *testing.T) {
	t.Parallel()
	c := newBumpableCase(t, "brokenbuild")
	run := buildAndPush(t, c.stack, c.pipeline(fixture(t, "broken-build"), "brokenbuild"))

	msg := failure(t, run)
	// go test compiles every package, so the test step is the first to
	// fail.
	assert.Check(t, is.Contains(msg, "test step failed"))
	assert.Check(t, is.Contains(msg, "example.com/brokenbuild [build failed]"))
	assert.Check(t, is.Contains(msg, "main.go:7:2: undefined: startServer"))
	c.checkNothingPushed(t, "brokenbuild")
	c.checkNothingCommitted(t)
}

func TestWrongToken(t *testing.T) {
	t.Parallel()
	c := newBumpableCase(t, "podinfo")
	p := c.podinfoPipeline(t)
	// A token of Gitea's length (40 hex digits) that Gitea never issued.
	p.token = randomHex(t) + randomHex(t) + randomHex(t) + randomHex(t) + randomHex(t)
	run := buildAndPush(t, c.stack, p)

	msg := failure(t, run)
	assert.Check(t, is.Contains(msg, "publish step failed"))
	assert.Check(t, is.Contains(msg, "push "+c.image("podinfo")+":"))
	assert.Check(t, is.Contains(msg, "registry rejected the credentials"))
	assert.Check(t, is.Contains(msg, `user "`+c.acct.name+`"`))
	c.checkNothingPushed(t, "podinfo")
	c.checkNothingCommitted(t)
}

func TestTokenWithoutPackageScope(t *testing.T) {
	t.Parallel()
	c := newBumpableCase(t, "podinfo")
	p := c.podinfoPipeline(t)
	p.token = c.acct.createToken(t, "repository-only", scopeWriteRepository)
	run := buildAndPush(t, c.stack, p)

	msg := failure(t, run)
	assert.Check(t, is.Contains(msg, "publish step failed"))
	assert.Check(t, is.Contains(msg, "push "+c.image("podinfo")+":"))
	assert.Check(t, is.Contains(msg, "registry rejected the credentials"))
	assert.Check(t, is.Contains(msg, "write:package"), "error does not name the missing scope")
	c.checkNothingPushed(t, "podinfo")
	c.checkNothingCommitted(t)
}

func TestUnknownManifestRepository(t *testing.T) {
	t.Parallel()
	c := newBumpableCase(t, "podinfo")
	p := c.podinfoPipeline(t)
	p.manifestRepo = c.acct.name + "/no-such-repository"
	run := buildAndPush(t, c.stack, p)

	msg := failure(t, run)
	assert.Check(t, is.Contains(msg, "bump step failed"))
	assert.Check(t, is.Contains(msg, p.manifestRepo))
	assert.Check(t, is.Contains(msg, "repository not found"))
	c.checkNothingCommitted(t)
}

func TestMissingManifestPath(t *testing.T) {
	t.Parallel()
	c := newBumpableCase(t, "podinfo")
	p := c.podinfoPipeline(t)
	p.manifestPath = "app/no-such-file.yaml"
	run := buildAndPush(t, c.stack, p)

	msg := failure(t, run)
	assert.Check(t, is.Contains(msg, "bump step failed"))
	assert.Check(t, is.Contains(msg, p.manifestPath))
	assert.Check(t, is.Contains(msg, "file not found"))
	c.checkNothingCommitted(t)
}

func TestManifestWithoutImage(t *testing.T) {
	t.Parallel()
	manifest := deployment("web", "nginx:1.27")
	c := newFailureCase(t, manifest)
	run := buildAndPush(t, c.stack, c.podinfoPipeline(t))

	msg := failure(t, run)
	assert.Check(t, is.Contains(msg, "bump step failed"))
	assert.Check(t, is.Contains(msg, "no reference to the image "+c.image("podinfo")+" in "+manifestPath))
	c.checkNothingCommitted(t)
	assert.Check(t, is.Equal(c.acct.readFile(t, c.repo, manifestPath), manifest), "%s after the failure", manifestPath)
}
