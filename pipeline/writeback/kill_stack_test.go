//go:build stack

package writeback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// privateGitea is a Gitea instance that hack/stack runs for one test, with
// its own state folder and port, so the test may kill it.
type privateGitea struct {
	*giteaStack
	stack string   // path of hack/stack
	env   []string // the variables that select this instance
	state string
}

// startPrivateGitea starts a Gitea of its own with hack/stack, from the
// binary that hack/stack cached, and stops it when the test ends.
func startPrivateGitea(t *testing.T) *privateGitea {
	t.Helper()
	stack, err := filepath.Abs("../../hack/stack")
	assert.NilError(t, err)
	state := t.TempDir()
	port := freePort(t)
	p := &privateGitea{stack: stack, state: state, env: append(os.Environ(),
		"INCLUSTER_STATE="+state,
		"GITEA_HTTP_PORT="+strconv.Itoa(port),
		"INCLUSTER_NETNS=wb"+strconv.Itoa(port),
		"DO_NOT_TRACK=1",
	)}
	p.run(t, "up", "gitea")
	t.Cleanup(func() {
		cmd := exec.Command(p.stack, "down", "gitea")
		cmd.Env = p.env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("stop the private Gitea: %v: %s", err, out)
		}
	})
	token, err := os.ReadFile(filepath.Join(state, "gitea", "token"))
	assert.NilError(t, err)
	p.giteaStack = newGiteaStack(t, fmt.Sprintf("http://127.0.0.1:%d", port), "incluster", strings.TrimSpace(string(token)))
	return p
}

func (p *privateGitea) run(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(p.stack, args...)
	cmd.Env = p.env
	out, err := cmd.CombinedOutput()
	assert.NilError(t, err, "hack/stack %s: %s", strings.Join(args, " "), out)
}

// kill stops Gitea at once with SIGKILL, as a crash or an OOM kill would.
func (p *privateGitea) kill(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(p.state, "gitea.pid"))
	assert.NilError(t, err)
	// The PID file has the PID on its first line.
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	assert.NilError(t, err)
	assert.NilError(t, syscall.Kill(pid, syscall.SIGKILL))
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NilError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// killedBump is the outcome of one bump in TestStackKillGiteaMidBump.
type killedBump struct {
	tag        string
	result     Result
	err        error
	start, end time.Time
}

// TestStackKillGiteaMidBump kills Gitea with SIGKILL while bumps of a
// Deployment and its kustomization run one after another, and starts it
// again a second later. Every bump must either succeed or fail with
// ErrUnavailable or ErrConflict. Every commit must change both files, so
// that no half-applied bump is ever on the branch. Every successful bump
// must have exactly one commit with its reported changes.
func TestStackKillGiteaMidBump(t *testing.T) {
	p := startPrivateGitea(t)
	// The kill lands at a different point of a bump for each delay.
	delays := map[string][]time.Duration{
		"gitea": {150 * time.Millisecond, 600 * time.Millisecond},
		"git":   {100 * time.Millisecond, 450 * time.Millisecond},
	}
	for _, name := range backendNames {
		t.Run(name, func(t *testing.T) {
			w := p.backends(t)[name]
			repo := p.createRepo(t, map[string]string{
				"app/deployment.yaml":    deploymentYAML,
				"app/kustomization.yaml": kustomizationYAML,
			})
			base := p.headOf(t, repo, "main")

			const bumps = 8
			started := make(chan int, bumps)
			outcomes := make([]killedBump, bumps)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := range bumps {
					o := &outcomes[i]
					o.tag = fmt.Sprintf("v2.%d", i)
					req := stackRequest(repo, o.tag)
					req.Files = []string{"app/deployment.yaml", "app/kustomization.yaml"}
					o.start = time.Now()
					started <- i
					o.result, o.err = w.Write(context.Background(), req)
					o.end = time.Now()
				}
			}()

			// Kill during the second and the fifth bump.
			var kills []time.Time
			for _, killAt := range []struct {
				bump  int
				delay time.Duration
			}{{1, delays[name][0]}, {4, delays[name][1]}} {
				for i := range started {
					if i == killAt.bump {
						break
					}
				}
				time.Sleep(killAt.delay)
				p.kill(t)
				kills = append(kills, time.Now())
				time.Sleep(time.Second)
				p.run(t, "up", "gitea")
			}
			<-done

			inFlight := 0
			for _, k := range kills {
				for _, o := range outcomes {
					if o.start.Before(k) && o.end.After(k) {
						inFlight++
					}
				}
			}
			assert.Check(t, inFlight > 0, "no bump was running when Gitea was killed")

			succeeded := 0
			for i, o := range outcomes {
				t.Logf("bump %d (%s): changed=%v attempts=%d error=%v", i, o.tag, o.result.Changed, o.result.Attempts, o.err)
				if o.err != nil {
					assert.Check(t, errors.Is(o.err, ErrUnavailable) || errors.Is(o.err, ErrConflict),
						"bump %d failed with an unexpected error: %v", i, o.err)
					continue
				}
				assert.Check(t, o.result.Changed, "bump %d changed nothing", i)
				succeeded++
			}

			dir := p.clone(t, repo)
			history := strings.Fields(runGit(t, dir, "rev-list", "--reverse", base+"..main"))
			assert.Check(t, is.Len(history, succeeded), "commits on main versus successful bumps")
			for _, c := range history {
				// A half-applied bump would change one file only, or
				// leave the two files at different tags.
				files := strings.Fields(runGit(t, dir, "diff", "--name-only", c+"~1", c))
				assert.Check(t, is.DeepEqual(files, []string{"app/deployment.yaml", "app/kustomization.yaml"}), "files of commit %s", c)
				deployment := runGit(t, dir, "show", c+":app/deployment.yaml")
				kustomization := runGit(t, dir, "show", c+":app/kustomization.yaml")
				tag := tagIn(kustomization)
				assert.Check(t, strings.Contains(deployment, "registry.example/team/app:"+tag+"\n"), "commit %s: the Deployment lacks the kustomization's tag %s", c, tag)
			}
			for i, o := range outcomes {
				if o.err == nil && o.result.Changed {
					assert.Check(t, is.Contains(history, o.result.Commit), "bump %d reported commit %s, which is not on main", i, o.result.Commit)
					checkCommitMatchesChanges(t, dir, o.result.Commit, o.result.Files, o.result.Changes)
				}
			}
		})
	}
}

// tagIn returns the newTag value of a kustomization.
func tagIn(kustomization string) string {
	for _, line := range strings.Split(kustomization, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "newTag: "); ok {
			return v
		}
	}
	return ""
}
