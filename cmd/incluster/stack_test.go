//go:build stack

package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"code.gitea.io/sdk/gitea"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/internal/stacktest"
)

// newGiteaUser creates a Gitea user with a random name and a token with
// the given scopes, and deletes the user, its packages and its
// repositories when the test ends. It returns the user name and the token.
func newGiteaUser(t *testing.T, scopes ...gitea.AccessTokenScope) (string, string) {
	t.Helper()
	stack := stacktest.Gitea(t)
	admin, err := gitea.NewClient(stack.GiteaURL, gitea.SetToken(stack.GiteaToken))
	assert.NilError(t, err)

	suffix := make([]byte, 4)
	_, err = rand.Read(suffix)
	assert.NilError(t, err)
	name := "cli-test-" + hex.EncodeToString(suffix)
	password := "pw-" + hex.EncodeToString(suffix) + "-Aa1!"
	mustChange := false
	_, _, err = admin.AdminCreateUser(gitea.CreateUserOption{
		Username: name, Email: name + "@example.invalid", Password: password, MustChangePassword: &mustChange,
	})
	assert.NilError(t, err, "create Gitea user %s", name)

	t.Cleanup(func() {
		repos, _, err := admin.ListUserRepos(name, gitea.ListReposOptions{})
		assert.Check(t, err, "list repositories of %s", name)
		for _, r := range repos {
			_, err := admin.DeleteRepo(name, r.Name)
			assert.Check(t, err, "delete repository %s/%s", name, r.Name)
		}
		packages, _, err := admin.ListPackages(name, gitea.ListPackagesOptions{})
		assert.Check(t, err, "list packages of %s", name)
		for _, p := range packages {
			_, err := admin.DeletePackage(name, p.Type, p.Name, p.Version)
			assert.Check(t, err, "delete package %s of %s", p.Name, name)
		}
		_, err = admin.AdminDeleteUser(name)
		assert.Check(t, err, "delete Gitea user %s", name)
	})

	user, err := gitea.NewClient(stack.GiteaURL, gitea.SetBasicAuth(name, password))
	assert.NilError(t, err)
	token, _, err := user.CreateAccessToken(gitea.CreateAccessTokenOption{Name: "cli", Scopes: scopes})
	assert.NilError(t, err)
	return name, token.Token
}

func TestGiteaPushNeverPrintsToken(t *testing.T) {
	stack := stacktest.Gitea(t)
	user, token := newGiteaUser(t, gitea.AccessTokenScopeWritePackage)
	dir, digest := writeLayout(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	assert.NilError(t, os.WriteFile(tokenFile, []byte(token), 0o600))
	repo := stack.Registry + "/" + user + "/app"
	env := []string{"INCLUSTER_USERNAME=" + user}

	pushed := runProgram(t, "", env, "push", "--token-file", tokenFile, dir, repo+":v0.1")
	again := runProgram(t, "", env, "push", "--token-file", tokenFile, dir, repo+":v0.1")
	next := runProgram(t, "", env, "next-tag", "--token-file", tokenFile, repo)
	conflict := runProgram(t, token, env, "push", "--token-file", "-", otherLayout(t), repo+":v0.1")

	assert.Check(t, is.Equal(pushed.code, 0), "stderr: %s", pushed.stderr)
	assert.Check(t, is.Equal(pushed.stdout, repo+":v0.1@"+digest+"\n"))
	assert.Check(t, is.Equal(again.code, 0), "stderr: %s", again.stderr)
	assert.Check(t, is.Contains(again.stderr, "unchanged"))
	assert.Check(t, is.Equal(next.stdout, "v0.2\n"), "stderr: %s", next.stderr)
	assert.Check(t, is.Equal(conflict.code, 3), "stderr: %s", conflict.stderr)
	for name, r := range map[string]execution{"push": pushed, "repeat": again, "next-tag": next, "conflict": conflict} {
		assert.Check(t, !strings.Contains(r.stdout+r.stderr, token), "%s printed the token", name)
	}
}

func TestGiteaPushRejectedTokens(t *testing.T) {
	stack := stacktest.Gitea(t)
	user, readOnly := newGiteaUser(t, gitea.AccessTokenScope("read:repository"))
	const wrong = "0123456789abcdef0123456789abcdef01234567"
	dir, _ := writeLayout(t)
	ref := stack.Registry + "/" + user + "/app:v0.1"

	for name, token := range map[string]string{"wrong token": wrong, "token without package scope": readOnly} {
		r := runProgram(t, "", []string{"INCLUSTER_USERNAME=" + user, "INCLUSTER_TOKEN=" + token}, "push", dir, ref)
		assert.Check(t, is.Equal(r.code, 1), "%s: %s", name, r.stderr)
		assert.Check(t, is.Equal(r.stdout, ""), name)
		assert.Check(t, is.Contains(r.stderr, "write:package"), name)
		assert.Check(t, !strings.Contains(r.stderr, token), "%s: the token is in the output", name)
	}
}

func otherLayout(t *testing.T) string {
	t.Helper()
	dir, _ := writeLayout(t)
	return dir
}

// createRepo creates the repository user/name as the stack's admin, and
// adds deployment.yaml on main with the user's token.
func createRepo(t *testing.T, user, token, name string) {
	t.Helper()
	stack := stacktest.Gitea(t)
	admin, err := gitea.NewClient(stack.GiteaURL, gitea.SetToken(stack.GiteaToken))
	assert.NilError(t, err)
	_, _, err = admin.AdminCreateRepo(user, gitea.CreateRepoOption{Name: name, AutoInit: true, DefaultBranch: "main", Private: true})
	assert.NilError(t, err, "create repository %s/%s", user, name)
	client, err := gitea.NewClient(stack.GiteaURL, gitea.SetToken(token))
	assert.NilError(t, err)
	_, _, err = client.CreateFile(user, name, "deploy/deployment.yaml", gitea.CreateFileOptions{
		FileOptions: gitea.FileOptions{Message: "Add the deployment", BranchName: "main"},
		Content:     base64.StdEncoding.EncodeToString([]byte(deployment)),
	})
	assert.NilError(t, err, "create deploy/deployment.yaml in %s/%s", user, name)
}

func readFile(t *testing.T, token, owner, repo, path string) string {
	t.Helper()
	stack := stacktest.Gitea(t)
	client, err := gitea.NewClient(stack.GiteaURL, gitea.SetToken(token))
	assert.NilError(t, err)
	data, _, err := client.GetFile(owner, repo, "main", path)
	assert.NilError(t, err, "read %s from %s/%s", path, owner, repo)
	return string(data)
}

func TestGiteaPushThenBump(t *testing.T) {
	stack := stacktest.Gitea(t)
	user, token := newGiteaUser(t, gitea.AccessTokenScopeWritePackage, gitea.AccessTokenScope("write:repository"))
	createRepo(t, user, token, "app")
	dir, digest := writeLayout(t)
	env := []string{"INCLUSTER_USERNAME=" + user, "INCLUSTER_TOKEN=" + token}
	clusterImage := "gitea-http.gitea.svc.cluster.local:3000/owner/app"
	bump := func(ref string) execution {
		return runProgram(t, "", env, "bump", "--url", stack.GiteaURL, "--repo", user+"/app",
			"--file", "deploy/deployment.yaml", "--image", clusterImage, ref)
	}

	pushed := runProgram(t, "", env, "push", dir, stack.Registry+"/"+user+"/app:v0.2")
	assert.Assert(t, is.Equal(pushed.code, 0), "stderr: %s", pushed.stderr)
	first := bump(strings.TrimSpace(pushed.stdout))
	second := bump(strings.TrimSpace(pushed.stdout))

	assert.Check(t, is.Equal(first.code, 0), "stderr: %s", first.stderr)
	assert.Check(t, is.Len(strings.TrimSpace(first.stdout), 40), "a commit SHA: %q", first.stdout)
	assert.Check(t, is.Contains(readFile(t, token, user, "app", "deploy/deployment.yaml"), "image: "+clusterImage+":v0.2@"+digest+"\n"))
	assert.Check(t, is.Equal(second.code, 0), "stderr: %s", second.stderr)
	assert.Check(t, is.Equal(second.stdout, ""), "no commit the second time")
	assert.Check(t, is.Contains(second.stderr, "unchanged"))
	for name, r := range map[string]execution{"push": pushed, "first bump": first, "second bump": second} {
		assert.Check(t, !strings.Contains(r.stdout+r.stderr, token), "%s printed the token", name)
	}
}

func TestGiteaBumpFailures(t *testing.T) {
	stack := stacktest.Gitea(t)
	user, token := newGiteaUser(t, gitea.AccessTokenScope("write:repository"))
	createRepo(t, user, token, "app")
	const wrong = "0123456789abcdef0123456789abcdef01234567"
	ref := "gitea-http.gitea.svc.cluster.local:3000/owner/app:v0.2"
	for _, tc := range []struct {
		name  string
		token string
		args  []string
		want  string
	}{
		{"wrong token", wrong, []string{"--repo", user + "/app", "--file", "deploy/deployment.yaml", ref}, "permission denied"},
		{"unknown repository", token, []string{"--repo", user + "/none", "--file", "deploy/deployment.yaml", ref}, "repository not found"},
		{"missing manifest", token, []string{"--repo", user + "/app", "--file", "deploy/missing.yaml", ref}, "deploy/missing.yaml"},
		{"no matching image", token, []string{"--repo", user + "/app", "--file", "deploy/deployment.yaml", "127.0.0.1:3000/other/image:v0.2"}, "no reference to the image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bump", "--url", stack.GiteaURL, "--timeout", "20s"}, tc.args...)
			r := runProgram(t, "", []string{"INCLUSTER_TOKEN=" + tc.token}, args...)
			assert.Check(t, is.Equal(r.code, 1), "stderr: %s", r.stderr)
			assert.Check(t, is.Equal(r.stdout, ""))
			assert.Check(t, is.Contains(r.stderr, tc.want))
			assert.Check(t, !strings.Contains(r.stderr, tc.token), "the token is in the output")
		})
	}
}

func TestGiteaNextTagWrongToken(t *testing.T) {
	stack := stacktest.Gitea(t)
	user, _ := newGiteaUser(t, gitea.AccessTokenScopeWritePackage)
	const wrong = "0123456789abcdef0123456789abcdef01234567"
	repo := stack.Registry + "/" + user + "/app"

	r := runProgram(t, "", []string{"INCLUSTER_USERNAME=" + user, "INCLUSTER_TOKEN=" + wrong}, "next-tag", repo)

	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Equal(r.stdout, ""))
	assert.Check(t, strings.HasPrefix(r.stderr, "incluster: list tags of "+repo+": registry rejected the credentials"), "stderr: %s", r.stderr)
	assert.Check(t, is.Equal(strings.Count(r.stderr, "list tags of"), 1), "stderr: %s", r.stderr)
	assert.Check(t, is.Equal(strings.Count(r.stderr, "\n"), 1), "one line: %q", r.stderr)
	assert.Check(t, is.Contains(r.stderr, "read:package"))
	assert.Check(t, !strings.Contains(r.stderr, "write:package"), "stderr: %s", r.stderr)
	assert.Check(t, !strings.Contains(r.stderr, wrong), "the token is in the output")
}

func TestGiteaPushUnknownOwner(t *testing.T) {
	stack := stacktest.Gitea(t)
	user, token := newGiteaUser(t, gitea.AccessTokenScopeWritePackage)
	dir, _ := writeLayout(t)
	owner := user + "-missing"

	r := runProgram(t, "", []string{"INCLUSTER_USERNAME=" + user, "INCLUSTER_TOKEN=" + token}, "push", "--quiet", dir, stack.Registry+"/"+owner+"/app:v0.1")

	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Equal(r.stdout, ""))
	assert.Check(t, is.Contains(r.stderr, `owner "`+owner+`" does not exist`))
	assert.Check(t, is.Equal(strings.Count(r.stderr, "\n"), 1), "one line: %q", r.stderr)
}
