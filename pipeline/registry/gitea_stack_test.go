//go:build stack

package registry_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"code.gitea.io/sdk/gitea"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/internal/stacktest"
	"github.com/incluster/incluster/pipeline/registry"
	"github.com/incluster/incluster/pipeline/tag"
)

// giteaUser is a user that a test creates in the stack's Gitea, with a
// token that may push packages and one that may only read repositories.
type giteaUser struct {
	registry      string
	name          string
	packageToken  string
	readRepoToken string
}

// newGiteaUser creates a user with a random name and its two tokens, and
// deletes the user and its packages when the test ends.
func newGiteaUser(t *testing.T) giteaUser {
	t.Helper()
	stack := stacktest.Gitea(t)
	admin, err := gitea.NewClient(stack.GiteaURL, gitea.SetToken(stack.GiteaToken))
	assert.NilError(t, err)

	suffix := make([]byte, 4)
	_, err = rand.Read(suffix)
	assert.NilError(t, err)
	name := "registry-test-" + hex.EncodeToString(suffix)
	password := "pw-" + hex.EncodeToString(suffix) + "-Aa1!"
	mustChange := false
	_, _, err = admin.AdminCreateUser(gitea.CreateUserOption{
		Username:           name,
		Email:              name + "@example.invalid",
		Password:           password,
		MustChangePassword: &mustChange,
	})
	assert.NilError(t, err, "create Gitea user %s", name)
	t.Cleanup(func() { deleteGiteaUser(t, admin, name) })

	user, err := gitea.NewClient(stack.GiteaURL, gitea.SetBasicAuth(name, password))
	assert.NilError(t, err)
	createToken := func(tokenName string, scopes ...gitea.AccessTokenScope) string {
		token, _, err := user.CreateAccessToken(gitea.CreateAccessTokenOption{Name: tokenName, Scopes: scopes})
		assert.NilError(t, err, "create token %s", tokenName)
		return token.Token
	}
	return giteaUser{
		registry:      stack.Registry,
		name:          name,
		packageToken:  createToken("package", gitea.AccessTokenScopeWritePackage),
		readRepoToken: createToken("read-repository", gitea.AccessTokenScope("read:repository")),
	}
}

func deleteGiteaUser(t *testing.T, admin *gitea.Client, name string) {
	t.Helper()
	packages, _, err := admin.ListPackages(name, gitea.ListPackagesOptions{})
	if err != nil {
		t.Errorf("list packages of %s: %v", name, err)
	}
	for _, p := range packages {
		if _, err := admin.DeletePackage(name, p.Type, p.Name, p.Version); err != nil {
			t.Errorf("delete package %s/%s/%s of %s: %v", p.Type, p.Name, p.Version, name, err)
		}
	}
	if _, err := admin.AdminDeleteUser(name); err != nil {
		t.Errorf("delete Gitea user %s: %v", name, err)
	}
}

func (u giteaUser) client(token string) *registry.Client {
	return registry.New(registry.Options{Credentials: registry.Credentials{Username: u.name, Token: token}})
}

func (u giteaUser) repository(app string) string {
	return u.registry + "/" + u.name + "/" + app
}

func TestGiteaPushAndPull(t *testing.T) {
	u := newGiteaUser(t)
	c := u.client(u.packageToken)
	img := randomImage(t, 4096, 3)
	src := openSource(t, tarDirectory(t, writeLayout(t, img), false))
	ref := u.repository("app") + ":v0.1"

	result := push(t, c, src.Artifact, ref)

	want := digestOf(t, img)
	assert.Check(t, is.Equal(result.Reference, ref+"@"+want))
	assert.Check(t, is.Equal(result.BytesUploaded() > 0, true))
	pulled, err := remote.Image(parseReference(t, result.Reference),
		remote.WithAuth(&authn.Basic{Username: u.name, Password: u.packageToken}))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(digestOf(t, pulled), want))
	layers, err := pulled.Layers()
	assert.NilError(t, err)
	assert.Check(t, is.Len(layers, 3))
	got, err := c.Resolve(context.Background(), ref)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got, want))
}

func TestGiteaRepeatPushUploadsNothing(t *testing.T) {
	u := newGiteaUser(t)
	c := u.client(u.packageToken)
	src := openSource(t, writeLayout(t, randomImage(t, 4096, 2)))
	first := push(t, c, src.Artifact, u.repository("app")+":v0.1")

	again := push(t, c, src.Artifact, u.repository("app")+":v0.1")
	newTag := push(t, c, src.Artifact, u.repository("app")+":v0.2")

	assert.Check(t, again.Unchanged)
	assert.Check(t, is.Equal(again.Reference, first.Reference))
	assert.Check(t, is.Equal(again.BytesUploaded(), int64(0)))
	assert.Check(t, !newTag.Unchanged)
	assert.Check(t, is.Equal(newTag.Digest, first.Digest))
	assert.Check(t, is.Equal(newTag.BytesUploaded(), int64(0)))
}

func TestGiteaRejectsOverwrite(t *testing.T) {
	u := newGiteaUser(t)
	c := u.client(u.packageToken)
	ref := u.repository("app") + ":v0.1"
	first := push(t, c, openSource(t, writeLayout(t, randomImage(t, 1024, 1))).Artifact, ref)
	other := openSource(t, writeLayout(t, randomImage(t, 1024, 1)))

	_, err := c.Push(context.Background(), registry.PushRequest{Artifact: other.Artifact, Reference: ref})
	assert.Check(t, is.ErrorIs(err, registry.ErrTagExists))
	assert.Check(t, is.ErrorContains(err, first.Digest))

	moved, err := c.Push(context.Background(), registry.PushRequest{Artifact: other.Artifact, Reference: ref, Overwrite: true})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(moved.Overwritten, first.Digest))
	got, err := c.Resolve(context.Background(), ref)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got, moved.Digest))
}

func TestGiteaNextTag(t *testing.T) {
	u := newGiteaUser(t)
	c := u.client(u.packageToken)
	repo := u.repository("app")
	src := openSource(t, writeLayout(t, randomImage(t, 1024, 1)))

	next, err := tag.NextFromRegistry(context.Background(), c, repo)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(next, "v0.1"), "a repository that does not exist yet")

	for _, name := range []string{"v0.1", "v0.2", "0a1b2c3"} {
		push(t, c, src.Artifact, repo+":"+name)
	}
	next, err = tag.NextFromRegistry(context.Background(), c, repo)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(next, "v0.3"))
}

func TestGiteaWrongToken(t *testing.T) {
	u := newGiteaUser(t)
	const token = "0123456789abcdef0123456789abcdef01234567"
	src := openSource(t, writeLayout(t, randomImage(t, 1024, 1)))

	_, err := u.client(token).Push(context.Background(), registry.PushRequest{Artifact: src.Artifact, Reference: u.repository("app") + ":v0.1"})

	assert.Check(t, is.ErrorIs(err, registry.ErrUnauthorized))
	assert.Check(t, is.ErrorContains(err, `for user "`+u.name+`"`))
	assert.Check(t, !strings.Contains(err.Error(), token), "the token is in the error: %v", err)
}

func TestGiteaTokenWithoutPackageScope(t *testing.T) {
	u := newGiteaUser(t)
	src := openSource(t, writeLayout(t, randomImage(t, 1024, 1)))

	// Gitea 1.27.3 responds 401 at its token endpoint (/v2/token).
	_, err := u.client(u.readRepoToken).Push(context.Background(), registry.PushRequest{Artifact: src.Artifact, Reference: u.repository("app") + ":v0.1"})

	assert.Assert(t, err != nil)
	rejected := errors.Is(err, registry.ErrUnauthorized) || errors.Is(err, registry.ErrForbidden)
	assert.Check(t, rejected, "expected ErrUnauthorized or ErrForbidden, got %v", err)
	assert.Check(t, is.ErrorContains(err, "write:package"))
	assert.Check(t, !strings.Contains(err.Error(), u.readRepoToken), "the token is in the error: %v", err)
}

func TestGiteaPushToOtherOwner(t *testing.T) {
	u := newGiteaUser(t)
	stack := stacktest.Gitea(t)
	src := openSource(t, writeLayout(t, randomImage(t, 1024, 1)))

	// The user's token may not write packages of the stack's admin user.
	// Gitea 1.27.3 responds 401 to the blob upload.
	_, err := u.client(u.packageToken).Push(context.Background(), registry.PushRequest{Artifact: src.Artifact, Reference: u.registry + "/" + stack.GiteaUser + "/registry-test:v0.1"})

	assert.Assert(t, err != nil)
	rejected := errors.Is(err, registry.ErrUnauthorized) || errors.Is(err, registry.ErrForbidden)
	assert.Check(t, rejected, "expected ErrUnauthorized or ErrForbidden, got %v", err)
}
