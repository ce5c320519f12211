//go:build stack

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"code.gitea.io/sdk/gitea"
	"gotest.tools/v3/assert"

	"github.com/incluster/incluster/internal/stacktest"
	"github.com/incluster/incluster/pipeline/registry"
)

// scopeWriteRepository is Gitea's token scope for writing repositories,
// which the SDK has no constant for.
const scopeWriteRepository = gitea.AccessTokenScope("write:repository")

// keepEnv names the variable that, when set, keeps the Gitea users,
// repositories and packages of failed tests for inspection.
const keepEnv = "INCLUSTER_E2E_KEEP"

// account is a Gitea user that one test creates, so that its images and
// repositories are its own. Token may push packages and write
// repositories.
type account struct {
	name  string
	token string
	// api acts as the user, with its password.
	api   *gitea.Client
	admin *gitea.Client
}

// newAccount creates a public user with a random name and a token with
// the write:package and write:repository scopes. The user, its
// repositories and its packages are deleted when the test ends.
func newAccount(t *testing.T, s stacktest.Stack) *account {
	t.Helper()
	admin, err := gitea.NewClient(s.GiteaURL, gitea.SetToken(s.GiteaToken))
	assert.NilError(t, err, "connect to Gitea at %s", s.GiteaURL)

	suffix := randomHex(t)
	name := "e2e-" + suffix
	password := "pw-" + suffix + "-Aa1!"
	mustChange := false
	public := gitea.VisibleTypePublic
	_, _, err = admin.AdminCreateUser(gitea.CreateUserOption{
		Username:           name,
		Email:              name + "@example.invalid",
		Password:           password,
		MustChangePassword: &mustChange,
		Visibility:         &public,
	})
	assert.NilError(t, err, "create Gitea user %s", name)
	a := &account{name: name, admin: admin}
	t.Cleanup(func() { a.delete(t) })

	a.api, err = gitea.NewClient(s.GiteaURL, gitea.SetBasicAuth(name, password))
	assert.NilError(t, err)
	a.token = a.createToken(t, "e2e", gitea.AccessTokenScopeWritePackage, scopeWriteRepository)
	return a
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	_, err := rand.Read(b)
	assert.NilError(t, err)
	return hex.EncodeToString(b)
}

// createToken creates an access token of the user with scopes.
func (a *account) createToken(t *testing.T, name string, scopes ...gitea.AccessTokenScope) string {
	t.Helper()
	token, _, err := a.api.CreateAccessToken(gitea.CreateAccessTokenOption{Name: name, Scopes: scopes})
	assert.NilError(t, err, "create token %s of %s", name, a.name)
	return token.Token
}

// secret returns the user's token as a secret that runs must not print.
func (a *account) secret() secret {
	return secret{user: a.name, value: a.token}
}

// delete removes the user's packages, repositories and the user, unless
// the test failed and keepEnv is set.
func (a *account) delete(t *testing.T) {
	if t.Failed() && os.Getenv(keepEnv) != "" {
		t.Logf("keeping Gitea user %s, its repositories and packages (%s is set)", a.name, keepEnv)
		return
	}
	packages, _, err := a.admin.ListPackages(a.name, gitea.ListPackagesOptions{})
	if err != nil {
		t.Errorf("list packages of %s: %v", a.name, err)
	}
	for _, p := range packages {
		if _, err := a.admin.DeletePackage(a.name, p.Type, p.Name, p.Version); err != nil {
			t.Errorf("delete package %s/%s/%s of %s: %v", p.Type, p.Name, p.Version, a.name, err)
		}
	}
	if a.api != nil {
		repos, _, err := a.api.ListMyRepos(gitea.ListReposOptions{})
		if err != nil {
			t.Errorf("list repositories of %s: %v", a.name, err)
		}
		for _, r := range repos {
			if _, err := a.admin.DeleteRepo(r.Owner.UserName, r.Name); err != nil {
				t.Errorf("delete repository %s: %v", r.FullName, err)
			}
		}
	}
	if _, err := a.admin.AdminDeleteUser(a.name); err != nil {
		t.Errorf("delete Gitea user %s: %v", a.name, err)
	}
}

// createRepo creates the user's repository name with one commit on main
// that adds files (path to content), and returns "owner/name".
func (a *account) createRepo(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	_, _, err := a.api.CreateRepo(gitea.CreateRepoOption{Name: name, AutoInit: true, DefaultBranch: "main", Private: true})
	assert.NilError(t, err, "create repository %s/%s", a.name, name)
	opts := gitea.ChangeFilesOptions{Message: "Add manifests", Branch: "main"}
	for path, content := range files {
		opts.Files = append(opts.Files, &gitea.ChangeFileOperation{
			Operation: "create",
			Path:      path,
			Content:   base64.StdEncoding.EncodeToString([]byte(content)),
		})
	}
	_, _, err = a.api.ChangeFiles(a.name, name, opts)
	assert.NilError(t, err, "add files to %s/%s", a.name, name)
	return a.name + "/" + name
}

// head returns the commit SHA at the tip of repo's main branch.
func (a *account) head(t *testing.T, repo string) string {
	t.Helper()
	owner, name, _ := strings.Cut(repo, "/")
	branch, _, err := a.api.GetRepoBranch(owner, name, "main")
	assert.NilError(t, err, "read branch main of %s", repo)
	return branch.Commit.ID
}

// readFile returns the content of path on repo's main branch.
func (a *account) readFile(t *testing.T, repo, path string) string {
	t.Helper()
	owner, name, _ := strings.Cut(repo, "/")
	data, _, err := a.api.GetFile(owner, name, "main", path)
	assert.NilError(t, err, "read %s from %s", path, repo)
	return string(data)
}

// registryClient returns a registry client with the user's token.
func (a *account) registryClient() *registry.Client {
	return registry.New(registry.Options{Credentials: registry.Credentials{Username: a.name, Token: a.token}})
}

// tags lists the tags of the user's image app in the registry at the
// host address registryHost.
func (a *account) tags(t *testing.T, registryHost, app string) []string {
	t.Helper()
	repository := registryHost + "/" + a.name + "/" + app
	tags, err := a.registryClient().Tags(context.Background(), repository)
	assert.NilError(t, err, "list the tags of %s", repository)
	return tags
}
