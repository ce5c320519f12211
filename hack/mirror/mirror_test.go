package main

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/fs"
)

// testSources returns host inputs made up for the test: a CA bundle and a
// small zoneinfo tree with a symbolic link.
func testSources(t *testing.T) sources {
	t.Helper()
	dir := fs.NewDir(t, "mirror",
		fs.WithFile("ca.crt", "-----BEGIN CERTIFICATE-----\n"),
		fs.WithDir("zoneinfo",
			fs.WithDir("Europe", fs.WithFile("Berlin", "TZif2")),
			fs.WithSymlink("CET", "Europe/Berlin"),
		),
		fs.WithDir("cache"),
	)
	return sources{
		CACerts:  dir.Join("ca.crt"),
		ZoneInfo: dir.Join("zoneinfo"),
		CacheDir: dir.Join("cache"),
	}
}

// files returns the tar headers of img's flattened file system by path.
func files(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		assert.NilError(t, err)
		out["/"+strings.TrimSuffix(hdr.Name, "/")] = hdr
	}
}

func TestBaseImageReproducible(t *testing.T) {
	src := testSources(t)
	first, err := baseImage(src)
	assert.NilError(t, err)
	d1, err := first.Digest()
	assert.NilError(t, err)

	// A second build with an empty layer cache must give the same digest.
	assert.NilError(t, os.RemoveAll(src.CacheDir))
	second, err := baseImage(src)
	assert.NilError(t, err)
	d2, err := second.Digest()
	assert.NilError(t, err)
	assert.Equal(t, d1, d2)
}

func TestBaseImageContents(t *testing.T) {
	img, err := baseImage(testSources(t))
	assert.NilError(t, err)

	cfg, err := img.ConfigFile()
	assert.NilError(t, err)
	assert.Equal(t, cfg.Config.User, "65532")
	assert.Equal(t, cfg.OS, "linux")
	assert.Equal(t, cfg.Architecture, "amd64")
	assert.Equal(t, cfg.Created.Unix(), int64(0))

	got := files(t, img)
	assert.Check(t, got["/etc/ssl/certs/ca-certificates.crt"] != nil)
	assert.Check(t, got["/usr/share/zoneinfo/Europe/Berlin"] != nil)
	// fs.WithSymlink makes an absolute link into the host tree.
	assert.Equal(t, got["/usr/share/zoneinfo/CET"].Linkname, "/usr/share/zoneinfo/Europe/Berlin")
	assert.Equal(t, got["/tmp"].Mode, int64(0o1777))
	assert.Equal(t, got["/home/nonroot"].Uid, 65532)
	assert.Equal(t, got["/home/nonroot"].Gid, 65532)
	_, hasShell := got["/bin/sh"]
	assert.Check(t, !hasShell, "the base image must have no shell")
	for name, hdr := range got {
		assert.Check(t, hdr.ModTime.Equal(epoch), "%s has mtime %s", name, hdr.ModTime)
	}
}

func TestPushSkipsSameDigest(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ref, err := name.NewTag(host + "/incluster/distroless-static:nonroot")
	assert.NilError(t, err)
	img, err := baseImage(testSources(t))
	assert.NilError(t, err)
	logger := slog.New(slog.DiscardHandler)
	ctx := context.Background()

	first, err := push(ctx, img, ref, authn.Anonymous, logger)
	assert.NilError(t, err)
	assert.Check(t, first.Pushed)

	second, err := push(ctx, img, ref, authn.Anonymous, logger)
	assert.NilError(t, err)
	assert.Check(t, !second.Pushed)
	assert.Equal(t, second.Digest, first.Digest)

	desc, err := remote.Head(ref)
	assert.NilError(t, err)
	assert.Equal(t, desc.Digest.String(), first.Digest)
}

func TestGoVersion(t *testing.T) {
	dir := fs.NewDir(t, "goroot", fs.WithFile("VERSION", "go1.26.8\ntime 2026-08-28T16:20:06Z\n"))
	v, err := goVersion(dir.Path())
	assert.NilError(t, err)
	assert.Equal(t, v, "1.26.8")

	bad := fs.NewDir(t, "goroot", fs.WithFile("VERSION", "devel\n"))
	_, err = goVersion(bad.Path())
	assert.ErrorContains(t, err, "expected go1.x")
}

func TestCheckELFRejectsDynamic(t *testing.T) {
	self, err := os.Executable()
	assert.NilError(t, err)
	assert.NilError(t, checkELF(self, false))

	// /bin/ls is dynamically linked on every Debian system.
	err = checkELF(filepath.Join("/bin", "ls"), true)
	assert.ErrorContains(t, err, "dynamically linked")
}

func TestHostTreeSkipsLinkOutside(t *testing.T) {
	dir := fs.NewDir(t, "tree", fs.WithFile("UTC", "TZif2"))
	assert.NilError(t, os.Symlink("/etc/localtime", dir.Join("localtime")))
	b := newLayerBuilder()
	assert.NilError(t, b.HostTree("/usr/share/zoneinfo", dir.Path()))
	_, hasLink := b.entries["usr/share/zoneinfo/localtime"]
	assert.Check(t, !hasLink, "a link out of the tree must be left out")
	_, hasFile := b.entries["usr/share/zoneinfo/UTC"]
	assert.Check(t, hasFile)
}

func TestLayerCachedDiffID(t *testing.T) {
	src := testSources(t)
	b := newLayerBuilder()
	assert.NilError(t, b.HostTree("/usr/share/zoneinfo", src.ZoneInfo))
	layer, err := b.Layer(src.CacheDir, "zoneinfo")
	assert.NilError(t, err)
	cached, err := layer.DiffID()
	assert.NilError(t, err)

	// The diff ID that go-containerregistry computes by decompressing.
	plain, err := tarball.LayerFromFile(filepath.Join(src.CacheDir, "zoneinfo-"+b.Fingerprint()[:20]+".tar.gz"))
	assert.NilError(t, err)
	want, err := plain.DiffID()
	assert.NilError(t, err)
	assert.Equal(t, cached, want)
}
