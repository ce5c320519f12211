//go:build stack

package writeback

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"code.gitea.io/sdk/gitea"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/pipeline/manifest"
)

func stackRequest(repo, tag string) Request {
	req := appRequest(tag)
	req.Repository = repo
	// A machine shared with other builds can be many times slower than
	// an idle one, and a bump that times out fails the test.
	req.Timeout = 5 * time.Minute
	return req
}

func TestStackWriteCommitsChange(t *testing.T) {
	g := sharedGitea(t)
	for _, name := range backendNames {
		t.Run(name, func(t *testing.T) {
			w := g.backends(t)[name]
			repo := g.createRepo(t, map[string]string{
				"app/deployment.yaml":    deploymentYAML,
				"app/kustomization.yaml": kustomizationYAML,
			})
			req := stackRequest(repo, "v2")
			req.Files = []string{"app/deployment.yaml", "app/kustomization.yaml"}
			req.Updates[0].Digest = digest
			req.RunURL = "https://github.com/team/app/actions/runs/42"
			req.Author = Signature{Name: "Author", Email: "author@example.com"}
			req.Committer = Signature{Name: "Committer", Email: "committer@example.com"}

			res, err := w.Write(context.Background(), req)
			assert.NilError(t, err)
			assert.Check(t, res.Changed)
			assert.Check(t, is.Equal(res.Commit, g.headOf(t, repo, "main")))
			assert.Check(t, is.DeepEqual(res.Files, req.Files))

			dir := g.clone(t, repo)
			checkCommitMatchesChanges(t, dir, res.Commit, res.Files, res.Changes)
			msg := runGit(t, dir, "log", "-1", "--format=%an <%ae>%n%cn <%ce>%n%B", res.Commit)
			assert.Check(t, is.Contains(msg, "Author <author@example.com>\nCommitter <committer@example.com>\n"))
			assert.Check(t, is.Contains(msg, "Bump registry.example/team/app:v2@"+digest+"\n"))
			assert.Check(t, is.Contains(msg, "\n\nPipeline-Run: https://github.com/team/app/actions/runs/42\n"))

			// The same bump again changes nothing.
			again, err := w.Write(context.Background(), req)
			assert.NilError(t, err)
			assert.Check(t, !again.Changed)
			assert.Check(t, is.Equal(g.headOf(t, repo, "main"), res.Commit))
		})
	}
}

func TestStackWriteTargetBranch(t *testing.T) {
	g := sharedGitea(t)
	for _, name := range backendNames {
		t.Run(name, func(t *testing.T) {
			w := g.backends(t)[name]
			repo := g.createRepo(t, map[string]string{"app/deployment.yaml": deploymentYAML})
			base := g.headOf(t, repo, "main")
			req := stackRequest(repo, "v2")
			req.TargetBranch = "deploy/app"
			if name == "gitea" {
				req.PullRequest = &PullRequest{}
			}

			res, err := w.Write(context.Background(), req)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(res.Branch, "deploy/app"))
			assert.Check(t, is.Equal(g.headOf(t, repo, "main"), base))
			assert.Check(t, is.Equal(g.headOf(t, repo, "deploy/app"), res.Commit))

			req.Updates[0].Tag = "v3"
			second, err := w.Write(context.Background(), req)
			assert.NilError(t, err)
			dir := g.clone(t, repo)
			assert.Check(t, is.Equal(strings.TrimSpace(runGit(t, dir, "rev-parse", "deploy/app~1")), res.Commit))
			assert.Check(t, is.Equal(strings.TrimSpace(runGit(t, dir, "rev-parse", "deploy/app~2")), base))

			if name == "gitea" {
				assert.Check(t, strings.Contains(res.PullRequestURL, "/pulls/"), "pull request URL %q", res.PullRequestURL)
				assert.Check(t, is.Equal(second.PullRequestURL, res.PullRequestURL))
				owner, repoName, _ := strings.Cut(repo, "/")
				pr, _, err := g.api.GetPullRequestByBaseHead(owner, repoName, "main", "deploy/app")
				assert.NilError(t, err)
				assert.Check(t, is.Equal(pr.Title, "Bump registry.example/team/app:v2"))
			} else {
				assert.Check(t, is.Equal(res.PullRequestURL, ""))
			}
		})
	}
}

func TestStackWriteErrors(t *testing.T) {
	g := sharedGitea(t)
	repo := g.createRepo(t, map[string]string{"app/deployment.yaml": deploymentYAML})
	owner, name, _ := strings.Cut(repo, "/")
	_, _, err := g.api.CreateBranch(owner, name, gitea.CreateBranchOption{BranchName: "locked", OldBranchName: "main"})
	assert.NilError(t, err)
	_, _, err = g.api.CreateBranchProtection(owner, name, gitea.CreateBranchProtectionOption{RuleName: "locked", EnablePush: false})
	assert.NilError(t, err)
	readOnly := g.readOnlyToken(t, repo)

	cases := []struct {
		name   string
		token  string
		modify func(*Request)
		want   error
	}{
		{name: "missing repository", modify: func(r *Request) { r.Repository = owner + "/none-" + name }, want: ErrRepositoryNotFound},
		{name: "missing branch", modify: func(r *Request) { r.BaseBranch = "none" }, want: ErrBranchNotFound},
		{name: "missing file", modify: func(r *Request) { r.Files = []string{"app/none.yaml"} }, want: ErrFileNotFound},
		{name: "unknown image", modify: func(r *Request) { r.Updates[0].Image = "registry.example/other" }, want: manifest.ErrNoMatch},
		{name: "wrong token", token: "0123456789abcdef0123456789abcdef01234567", want: ErrPermission},
		{name: "read-only token", token: readOnly, want: ErrPermission},
		{name: "protected branch", modify: func(r *Request) { r.BaseBranch = "locked" }, want: ErrProtectedBranch},
	}
	for _, backend := range backendNames {
		for _, tc := range cases {
			t.Run(backend+"/"+tc.name, func(t *testing.T) {
				token := g.Token
				if tc.token != "" {
					token = tc.token
				}
				var logs bytes.Buffer
				w := newStackWriter(t, backend, g.URL, token, slog.New(slog.NewTextHandler(&logs, nil)))
				req := stackRequest(repo, "v2")
				if tc.modify != nil {
					tc.modify(&req)
				}
				before := g.headOf(t, repo, "main")

				_, err := w.Write(context.Background(), req)
				assert.Check(t, is.ErrorIs(err, tc.want))
				t.Logf("error: %v", err)
				for _, secret := range []string{token, g.Token} {
					assert.Check(t, !strings.Contains(fmt.Sprint(err), secret), "the error shows a token")
					assert.Check(t, !strings.Contains(logs.String(), secret), "the log shows a token")
				}
				assert.Check(t, is.Equal(g.headOf(t, repo, "main"), before))
			})
		}
	}
}

func newStackWriter(t *testing.T, backend, url, token string, log *slog.Logger) Writer {
	t.Helper()
	creds := Credentials{Token: NewToken(token)}
	backoff := Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond}
	var w Writer
	var err error
	switch backend {
	case "gitea":
		w, err = NewGitea(GiteaConfig{URL: url, Credentials: creds, Logger: log, Backoff: backoff})
	case "git":
		w, err = NewGit(GitConfig{URL: url, Credentials: creds, Logger: log, Backoff: backoff})
	}
	assert.NilError(t, err)
	return w
}

// readOnlyToken creates a user with write access to repo and returns a
// token of that user with only the read:repository scope.
func (g *giteaStack) readOnlyToken(t *testing.T, repo string) string {
	t.Helper()
	user := "wb-reader-" + randomSuffix(t)
	password := "P-" + randomSuffix(t) + randomSuffix(t)
	mustChange := false
	_, _, err := g.api.AdminCreateUser(gitea.CreateUserOption{
		Username: user, Email: user + "@example.com", Password: password, MustChangePassword: &mustChange,
	})
	assert.NilError(t, err)
	t.Cleanup(func() { _, _ = g.api.AdminDeleteUser(user) })
	owner, name, _ := strings.Cut(repo, "/")
	write := gitea.AccessModeWrite
	_, err = g.api.AddCollaborator(owner, name, user, gitea.AddCollaboratorOption{Permission: &write})
	assert.NilError(t, err)

	api, err := gitea.NewClient(g.URL, gitea.SetBasicAuth(user, password))
	assert.NilError(t, err)
	tok, _, err := api.CreateAccessToken(gitea.CreateAccessTokenOption{
		Name: "read-only", Scopes: []gitea.AccessTokenScope{"read:repository"},
	})
	assert.NilError(t, err)
	return tok.Token
}

// TestStackConcurrentBumps runs 20 concurrent bumps of the same file
// through each backend, each changing a different image.
func TestStackConcurrentBumps(t *testing.T) {
	const n = 20
	g := sharedGitea(t)
	for _, name := range backendNames {
		t.Run(name, func(t *testing.T) {
			w := g.backends(t)[name]
			repo := g.createRepo(t, map[string]string{"app/deployment.yaml": manyImagesDeployment(n)})
			base := g.headOf(t, repo, "main")

			outcomes := make([]bumpOutcome, n)
			var wg sync.WaitGroup
			start := time.Now()
			for i := range n {
				wg.Go(func() {
					req := stackRequest(repo, "")
					req.Updates = []manifest.Update{{Image: imageName(i), Tag: "v2"}}
					outcomes[i].result, outcomes[i].err = w.Write(context.Background(), req)
				})
			}
			wg.Wait()
			attempts := 0
			for _, o := range outcomes {
				attempts += o.result.Attempts
			}
			t.Logf("%s: %d bumps in %s with %d attempts", name, n, time.Since(start).Round(time.Millisecond), attempts)

			checkConcurrentBumps(t, g.clone(t, repo), "main", base, "app/deployment.yaml", outcomes, "v2")
		})
	}
}

// TestStackConcurrentTagBumps runs 20 concurrent bumps of the same image
// to increasing tags through each backend. The server decides the order
// in which they land. So the checks are these: every bump that reported a
// change has its own commit with exactly that change, the other bumps
// changed nothing, and the file contains the last committed tag.
func TestStackConcurrentTagBumps(t *testing.T) {
	const n = 20
	g := sharedGitea(t)
	for _, name := range backendNames {
		t.Run(name, func(t *testing.T) {
			w := g.backends(t)[name]
			repo := g.createRepo(t, map[string]string{"app/deployment.yaml": deploymentYAML})
			base := g.headOf(t, repo, "main")

			outcomes := make([]bumpOutcome, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					req := stackRequest(repo, fmt.Sprintf("v1.%d", i+1))
					outcomes[i].result, outcomes[i].err = w.Write(context.Background(), req)
				})
			}
			wg.Wait()

			dir := g.clone(t, repo)
			history := strings.Fields(runGit(t, dir, "rev-list", base+"..main"))
			byCommit := make(map[string]int)
			for i, o := range outcomes {
				if !assert.Check(t, o.err, "bump %d failed", i) || !o.result.Changed {
					continue
				}
				if prev, dup := byCommit[o.result.Commit]; dup {
					t.Errorf("bumps %d and %d report the same commit %s", prev, i, o.result.Commit)
				}
				byCommit[o.result.Commit] = i
				checkCommitMatchesChanges(t, dir, o.result.Commit, o.result.Files, o.result.Changes)
			}
			assert.Check(t, is.Equal(len(history), len(byCommit)), "commits on main versus bumps that reported a change")
			for _, c := range history {
				_, ok := byCommit[c]
				assert.Check(t, ok, "commit %s on main belongs to no bump", c)
			}
			if len(history) > 0 {
				last := outcomes[byCommit[history[0]]]
				content := runGit(t, dir, "show", "main:app/deployment.yaml")
				assert.Check(t, is.Contains(content, last.result.Changes[0].New))
			}
		})
	}
}

// TestStackGoldenInputs bumps each manifest golden input in a real Gitea
// repository through each backend, and checks that each commit's diff is
// exactly the reported changes and the file equals the golden output.
// One repository per backend holds every input as <case>/<file>.
func TestStackGoldenInputs(t *testing.T) {
	type goldenCase struct {
		name, file  string
		input, want []byte
		update      manifest.Update
	}
	var cases []goldenCase
	inputs, err := filepath.Glob("../manifest/testdata/*/input")
	assert.NilError(t, err)
	for _, input := range inputs {
		dir := filepath.Dir(input)
		want, err := os.ReadFile(filepath.Join(dir, "want"))
		if os.IsNotExist(err) {
			continue // a case that expects an error
		}
		assert.NilError(t, err)
		data, err := os.ReadFile(input)
		assert.NilError(t, err)
		args := readGoldenArgs(t, filepath.Join(dir, "args"))
		name := filepath.Base(dir)
		cases = append(cases, goldenCase{
			name: name, file: name + "/" + goldenFile(args), input: data, want: want,
			update: manifest.Update{Image: args["image"], Tag: args["tag"], Digest: args["digest"]},
		})
	}
	assert.Assert(t, len(cases) > 0, "no golden case with an expected output under ../manifest/testdata")
	files := make(map[string]string, len(cases))
	for _, c := range cases {
		files[c.file] = string(c.input)
	}

	g := sharedGitea(t)
	for _, backend := range backendNames {
		t.Run(backend, func(t *testing.T) {
			w := g.backends(t)[backend]
			repo := g.createRepo(t, files)
			results := make(map[string]Result, len(cases))
			for _, c := range cases {
				req := stackRequest(repo, "")
				req.Files = []string{c.file}
				req.Updates = []manifest.Update{c.update}
				res, err := w.Write(context.Background(), req)
				if !assert.Check(t, err, "case %s", c.name) {
					continue
				}
				assert.Check(t, is.Equal(res.Changed, !bytes.Equal(c.input, c.want)), "case %s", c.name)
				results[c.name] = res
			}

			dir := g.clone(t, repo)
			for _, c := range cases {
				res, ok := results[c.name]
				if !ok || !res.Changed {
					continue
				}
				checkCommitMatchesChanges(t, dir, res.Commit, res.Files, res.Changes)
				assert.Check(t, is.Equal(runGit(t, dir, "show", res.Commit+":"+c.file), string(c.want)), "case %s", c.name)
			}
		})
	}
}

// TestStackLostCommitResponse sends each backend's commit request through
// a proxy that forwards it to Gitea but closes the connection instead of
// returning the response. The bump must find its own commit on the next
// attempt and report it once, instead of committing again or reporting
// no change, also when another commit landed on top in between.
func TestStackLostCommitResponse(t *testing.T) {
	g := sharedGitea(t)
	target, err := url.Parse(g.URL)
	assert.NilError(t, err)
	commitPaths := map[string]string{"gitea": "/contents", "git": "/git-receive-pack"}

	for _, name := range backendNames {
		for _, commitOnTop := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/commit on top=%v", name, commitOnTop), func(t *testing.T) {
				repo := g.createRepo(t, map[string]string{"app/deployment.yaml": deploymentYAML})
				base := g.headOf(t, repo, "main")
				other := g.backends(t)["gitea"]

				var drop atomic.Int32
				drop.Store(1)
				proxy := httputil.NewSingleHostReverseProxy(target)
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, commitPaths[name]) || drop.Add(-1) < 0 {
						proxy.ServeHTTP(w, r)
						return
					}
					proxy.ServeHTTP(httptest.NewRecorder(), r)
					if commitOnTop {
						req := stackRequest(repo, "")
						req.Updates = []manifest.Update{{Image: "registry.example/team/sidecar", Tag: "v9"}}
						if _, err := other.Write(context.Background(), req); err != nil {
							t.Errorf("commit on top: %v", err)
						}
					}
					if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
						conn.Close()
					}
				}))
				defer srv.Close()

				w := newStackWriter(t, name, srv.URL, g.Token, nil)
				res, err := w.Write(context.Background(), stackRequest(repo, "v2"))
				assert.NilError(t, err)
				assert.Check(t, drop.Load() <= 0, "the commit request never reached the proxy")
				assert.Check(t, res.Changed)
				assert.Check(t, is.Len(res.Changes, 1))

				dir := g.clone(t, repo)
				history := strings.Fields(runGit(t, dir, "rev-list", "--reverse", base+"..main"))
				wantCommits := 1
				if commitOnTop {
					wantCommits = 2
				}
				assert.Check(t, is.Len(history, wantCommits))
				if len(history) > 0 {
					assert.Check(t, is.Equal(res.Commit, history[0]))
				}
				checkCommitMatchesChanges(t, dir, res.Commit, res.Files, res.Changes)
			})
		}
	}
}
