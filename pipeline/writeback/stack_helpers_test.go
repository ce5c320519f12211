//go:build stack

package writeback

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"code.gitea.io/sdk/gitea"
	"gotest.tools/v3/assert"

	"github.com/incluster/incluster/internal/stacktest"
)

// giteaStack is a Gitea instance with an admin token.
type giteaStack struct {
	URL   string
	User  string
	Token string
	api   *gitea.Client
}

func newGiteaStack(t testing.TB, url, user, token string) *giteaStack {
	t.Helper()
	api, err := gitea.NewClient(url, gitea.SetToken(token))
	assert.NilError(t, err, "connect to Gitea at %s", url)
	return &giteaStack{URL: url, User: user, Token: token, api: api}
}

// sharedGitea returns the Gitea of the local stack.
func sharedGitea(t testing.TB) *giteaStack {
	t.Helper()
	s := stacktest.Gitea(t)
	return newGiteaStack(t, s.GiteaURL, s.GiteaUser, s.GiteaToken)
}

func randomSuffix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	_, err := rand.Read(b)
	assert.NilError(t, err)
	return hex.EncodeToString(b)
}

// repoNameUnsafe matches the characters that Gitea rejects in a
// repository name.
var repoNameUnsafe = regexp.MustCompile(`[^a-z0-9.-]+`)

// createRepo creates a repository with a unique name whose main branch
// has one commit that adds files, and deletes it when the test ends. It
// returns "owner/name".
func (g *giteaStack) createRepo(t testing.TB, files map[string]string) string {
	t.Helper()
	name := "wb-" + repoNameUnsafe.ReplaceAllString(strings.ToLower(t.Name()), "-")
	if len(name) > 60 {
		name = name[:60]
	}
	name += "-" + randomSuffix(t)
	_, _, err := g.api.CreateRepo(gitea.CreateRepoOption{Name: name, AutoInit: true, DefaultBranch: "main", Private: true})
	assert.NilError(t, err, "create repository %s", name)
	t.Cleanup(func() {
		if _, err := g.api.DeleteRepo(g.User, name); err != nil {
			t.Logf("delete repository %s/%s: %v", g.User, name, err)
		}
	})

	var paths []string
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	opts := gitea.ChangeFilesOptions{Message: "Add manifests", Branch: "main"}
	for _, p := range paths {
		opts.Files = append(opts.Files, &gitea.ChangeFileOperation{
			Operation: "create", Path: p, Content: base64.StdEncoding.EncodeToString([]byte(files[p])),
		})
	}
	_, _, err = g.api.ChangeFiles(g.User, name, opts)
	assert.NilError(t, err, "add files to %s", name)
	return g.User + "/" + name
}

// clone clones repo with every branch into a temporary folder with the
// git CLI, for checks that read history. The token goes to git in its
// environment, not on its command line.
func (g *giteaStack) clone(t testing.TB, repo string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	cmd := exec.Command("git", "clone", "-q", "--mirror", g.URL+"/"+repo+".git", dir)
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader",
		"GIT_CONFIG_VALUE_0=Authorization: token "+g.Token)
	out, err := cmd.CombinedOutput()
	assert.NilError(t, err, "clone %s: %s", repo, out)
	return dir
}

// headOf returns the commit SHA at the tip of branch.
func (g *giteaStack) headOf(t testing.TB, repo, branch string) string {
	t.Helper()
	owner, name, _ := strings.Cut(repo, "/")
	b, _, err := g.api.GetRepoBranch(owner, name, branch)
	assert.NilError(t, err, "read branch %s of %s", branch, repo)
	return b.Commit.ID
}

// backends returns both Writers for g with the default backoff, by name.
func (g *giteaStack) backends(t testing.TB) map[string]Writer {
	t.Helper()
	creds := Credentials{Token: NewToken(g.Token)}
	gw, err := NewGitea(GiteaConfig{URL: g.URL, Credentials: creds})
	assert.NilError(t, err)
	git, err := NewGit(GitConfig{URL: g.URL, Credentials: creds})
	assert.NilError(t, err)
	return map[string]Writer{"gitea": gw, "git": git}
}

// backendNames lists the backends in a fixed order.
var backendNames = []string{"gitea", "git"}
