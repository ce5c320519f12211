//go:build stack

// Package hack tests the local stack that hack/stack runs. Gitea's registry,
// API and the mirrored images are tested against the shared instance. The
// bad states of hack/stack are tested against private Gitea instances,
// each with its own INCLUSTER_STATE and port, so that the shared instance
// is never stopped.
package hack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"code.gitea.io/sdk/gitea"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/internal/stacktest"
)

func TestRegistryPushAndList(t *testing.T) {
	s := stacktest.Gitea(t)
	ctx := context.Background()
	repo := fmt.Sprintf("stacktest-%d", time.Now().UnixNano())
	ref, err := name.NewTag(s.Registry + "/" + s.GiteaUser + "/" + repo + ":v1")
	assert.NilError(t, err)
	img, err := random.Image(1024, 2)
	assert.NilError(t, err)
	digest, err := img.Digest()
	assert.NilError(t, err)

	client, err := gitea.NewClient(s.GiteaURL, gitea.SetToken(s.GiteaToken), gitea.SetContext(ctx))
	assert.NilError(t, err)
	t.Cleanup(func() {
		if _, err := client.DeletePackage(s.GiteaUser, "container", repo, "v1"); err != nil {
			t.Logf("deleting package %s: %v", repo, err)
		}
	})

	auth := &authn.Basic{Username: s.GiteaUser, Password: s.GiteaToken}
	assert.NilError(t, remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuth(auth)))

	tags, err := remote.List(ref.Repository, remote.WithContext(ctx), remote.WithAuth(auth))
	assert.NilError(t, err)
	assert.Check(t, is.Contains(tags, "v1"))

	// The engine pulls without credentials.
	desc, err := remote.Head(ref, remote.WithContext(ctx), remote.WithAuth(authn.Anonymous))
	assert.NilError(t, err)
	assert.Equal(t, desc.Digest, digest)

	pkgs, _, err := client.ListPackages(s.GiteaUser, gitea.ListPackagesOptions{})
	assert.NilError(t, err)
	found := slices.ContainsFunc(pkgs, func(p *gitea.Package) bool {
		return p.Type == "container" && p.Name == repo && p.Version == "v1"
	})
	assert.Check(t, found, "package %s:v1 is missing from the packages API", repo)
}

// pullAnonymously pulls the image named by the environment variable v
// without credentials, as the engine does, and returns its files by path.
func pullAnonymously(t *testing.T, v string) (v1.Image, map[string]*tar.Header) {
	t.Helper()
	image := os.Getenv(v)
	assert.Assert(t, image != "", "%s is not set: run hack/stack up and eval \"$(hack/stack env)\" first", v)
	ref, err := name.ParseReference(image)
	assert.NilError(t, err)
	img, err := remote.Image(ref, remote.WithAuth(authn.Anonymous))
	assert.NilError(t, err)
	cfg, err := img.ConfigFile()
	assert.NilError(t, err)
	assert.Equal(t, cfg.OS+"/"+cfg.Architecture, "linux/amd64")

	files := map[string]*tar.Header{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		assert.NilError(t, err)
		files["/"+strings.TrimSuffix(hdr.Name, "/")] = hdr
	}
	return img, files
}

func TestGoImageContents(t *testing.T) {
	img, files := pullAnonymously(t, "INCLUSTER_GO_IMAGE")
	cfg, err := img.ConfigFile()
	assert.NilError(t, err)
	assert.Check(t, is.Contains(cfg.Config.Env, "GOROOT=/usr/local/go"))
	assert.Check(t, files["/usr/local/go/bin/go"] != nil)
	assert.Check(t, files["/bin/busybox"] != nil)
	assert.Check(t, files["/bin/sh"] != nil && files["/bin/sh"].Linkname == "/bin/busybox")
	assert.Check(t, files["/etc/ssl/certs/ca-certificates.crt"] != nil)
	assert.Check(t, files["/tmp"] != nil && files["/tmp"].Mode == 0o1777)
}

func TestBaseImageContents(t *testing.T) {
	img, files := pullAnonymously(t, "INCLUSTER_BASE_IMAGE")
	cfg, err := img.ConfigFile()
	assert.NilError(t, err)
	assert.Equal(t, cfg.Config.User, "65532")
	assert.Check(t, files["/bin/sh"] == nil, "the base image must have no shell")
	assert.Check(t, files["/usr/share/zoneinfo/UTC"] != nil)
	assert.Check(t, files["/etc/ssl/certs/ca-certificates.crt"] != nil)
	assert.Check(t, files["/home/nonroot"] != nil && files["/home/nonroot"].Uid == 65532)
	assert.Check(t, files["/tmp"] != nil && files["/tmp"].Mode == 0o1777)
}

// instance is a private Gitea-only stack with its own state and port.
type instance struct {
	state string
	port  int
}

func newInstance(t *testing.T) *instance {
	t.Helper()
	in := &instance{state: t.TempDir(), port: freePort(t)}
	// Stops what a test left running; errors mean nothing was running.
	t.Cleanup(func() { in.run(t, "down") })
	return in
}

// run runs hack/stack with the instance's environment and returns its
// stderr and exit code.
func (in *instance) run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("./stack", args...)
	cmd.Env = append(os.Environ(),
		"INCLUSTER_STATE="+in.state,
		"GITEA_HTTP_PORT="+strconv.Itoa(in.port),
		"INCLUSTER_NETNS=incluster-test-"+strconv.Itoa(in.port),
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else {
		assert.NilError(t, err)
	}
	return stderr.String(), code
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NilError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	assert.NilError(t, l.Close())
	return port
}

func TestUpPortTaken(t *testing.T) {
	in := newInstance(t)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(in.port))
	assert.NilError(t, err)
	defer l.Close()

	stderr, code := in.run(t, "up", "gitea")
	assert.Check(t, code != 0)
	assert.Check(t, is.Contains(stderr, fmt.Sprintf("port %d is already taken", in.port)))
	assert.Check(t, is.Contains(stderr, "GITEA_HTTP_PORT"))
}

func TestUpTwiceThenDownTwice(t *testing.T) {
	in := newInstance(t)

	stderr, code := in.run(t, "up", "gitea")
	assert.Equal(t, code, 0, stderr)
	token, err := os.ReadFile(filepath.Join(in.state, "gitea", "token"))
	assert.NilError(t, err)

	stderr, code = in.run(t, "up", "gitea")
	assert.Check(t, code != 0)
	assert.Check(t, is.Contains(stderr, "already running: gitea"))

	stderr, code = in.run(t, "down")
	assert.Equal(t, code, 0, stderr)

	stderr, code = in.run(t, "down")
	assert.Check(t, code != 0)
	assert.Check(t, is.Contains(stderr, "nothing is running"))

	// Data survives down: a second up keeps the admin and its token.
	stderr, code = in.run(t, "up", "gitea")
	assert.Equal(t, code, 0, stderr)
	again, err := os.ReadFile(filepath.Join(in.state, "gitea", "token"))
	assert.NilError(t, err)
	assert.Equal(t, string(again), string(token))
}

func TestDownNothingRunning(t *testing.T) {
	in := &instance{state: t.TempDir(), port: freePort(t)}
	stderr, code := in.run(t, "down")
	assert.Check(t, code != 0)
	assert.Check(t, is.Contains(stderr, "nothing is running"))
}

func TestUpStalePIDFile(t *testing.T) {
	in := newInstance(t)
	// A PID that certainly names no process: one that has just exited.
	dead := exec.Command("true")
	assert.NilError(t, dead.Run())
	pidFile := filepath.Join(in.state, "gitea.pid")
	assert.NilError(t, os.WriteFile(pidFile, []byte(strconv.Itoa(dead.Process.Pid)+"\n"), 0o644))

	_, code := in.run(t, "status", "gitea")
	assert.Check(t, code != 0, "status must report a stale PID file as stopped")

	stderr, code := in.run(t, "up", "gitea")
	assert.Equal(t, code, 0, stderr)
	assert.Check(t, is.Contains(stderr, "removing stale PID file"))
	pid, err := os.ReadFile(pidFile)
	assert.NilError(t, err)
	assert.Check(t, strings.TrimSpace(string(pid)) != strconv.Itoa(dead.Process.Pid))
}

func TestMissingAptPackage(t *testing.T) {
	cmd := exec.Command("bash", "-c", `. lib/common.sh && need_cmd incluster-no-such-command incluster-no-such-package`)
	// Skips apt-get update, which is slow and irrelevant to the failure.
	cmd.Env = append(os.Environ(), "INCLUSTER_APT_UPDATED=1")
	out, err := cmd.CombinedOutput()
	assert.Check(t, err != nil, "need_cmd must fail for a package apt cannot install")
	assert.Check(t, is.Contains(string(out), "missing package incluster-no-such-package"))
}

func TestUnknownComponent(t *testing.T) {
	in := &instance{state: t.TempDir(), port: freePort(t)}
	stderr, code := in.run(t, "up", "no-such-component")
	assert.Check(t, code != 0)
	assert.Check(t, is.Contains(stderr, "unknown component 'no-such-component'"))
}

func TestDownRecycledPID(t *testing.T) {
	in := &instance{state: t.TempDir(), port: freePort(t)}
	// This test's own PID with a start time it cannot have: a PID file from
	// before a reboot whose number now belongs to another process.
	pidFile := filepath.Join(in.state, "gitea.pid")
	assert.NilError(t, os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n1\n"), 0o644))

	stderr, code := in.run(t, "down", "gitea")
	assert.Equal(t, code, 0, stderr)
	assert.Check(t, is.Contains(stderr, "removing stale PID file"))
	_, err := os.Stat(pidFile)
	assert.Check(t, os.IsNotExist(err))
}
