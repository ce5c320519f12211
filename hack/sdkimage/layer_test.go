package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
)

// readTar returns the entry names of a tar stream in stream order, and
// the headers and contents by name.
func readTar(t *testing.T, data []byte) ([]string, map[string]*tar.Header, map[string]string) {
	t.Helper()
	var names []string
	headers := map[string]*tar.Header{}
	contents := map[string]string{}
	reader := tar.NewReader(bytes.NewReader(data))
	for {
		header, err := reader.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		assert.NilError(t, err)
		content, err := io.ReadAll(reader)
		assert.NilError(t, err)
		names = append(names, header.Name)
		headers[header.Name] = header
		contents[header.Name] = string(content)
	}
	return names, headers, contents
}

func TestLayerBuilderTar(t *testing.T) {
	host := fs.NewDir(t, "host",
		fs.WithFile("tool", "binary", fs.WithMode(0o755)),
		fs.WithDir("tree",
			fs.WithFile("a.go", "package a\n"),
			fs.WithDir("test", fs.WithFile("skipped", "")),
		),
	)
	assert.NilError(t, os.Symlink("a.go", host.Join("tree", "link")))
	b := newLayerBuilder()
	b.Dir("/tmp", 0o1777)
	b.File("/etc/passwd", 0o644, []byte("root:x:0:0::/root:/bin/sh\n"))
	b.Symlink("/bin/sh", "/bin/busybox")
	assert.NilError(t, b.HostFile("/usr/local/bin/tool", host.Join("tool")))
	assert.NilError(t, b.HostTree("/src", host.Join("tree"), func(rel string) bool { return rel == "test" }))

	var buf bytes.Buffer
	assert.NilError(t, b.WriteTar(&buf))
	names, headers, contents := readTar(t, buf.Bytes())

	assert.Check(t, is.DeepEqual(names, []string{
		"bin/", "bin/sh", "etc/", "etc/passwd", "src/", "src/a.go", "src/link",
		"tmp/", "usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/tool",
	}))
	assert.Check(t, is.Equal(headers["tmp/"].Mode, int64(0o1777)))
	assert.Check(t, is.Equal(headers["usr/local/bin/tool"].Mode, int64(0o755)))
	assert.Check(t, is.Equal(contents["usr/local/bin/tool"], "binary"))
	assert.Check(t, is.Equal(contents["src/a.go"], "package a\n"))
	assert.Check(t, is.Equal(headers["bin/sh"].Linkname, "/bin/busybox"))
	assert.Check(t, is.Equal(headers["src/link"].Linkname, "a.go"))
	for name, header := range headers {
		assert.Check(t, header.ModTime.Equal(layerTime), "mtime of %s", name)
		assert.Check(t, is.Equal(header.Uid, 0), "owner of %s", name)
	}
}

func TestLayerBuilderMissingHostFile(t *testing.T) {
	b := newLayerBuilder()
	err := b.HostFile("/bin/tool", filepath.Join(t.TempDir(), "missing"))
	assert.ErrorContains(t, err, "missing")
}

func TestEscapeModule(t *testing.T) {
	assert.Check(t, is.Equal(escapeModule("github.com/BurntSushi/toml"), "github.com/!burnt!sushi/toml"))
	assert.Check(t, is.Equal(escapeModule("v1.0.0-RC1"), "v1.0.0-!r!c1"))
	assert.Check(t, is.Equal(escapeModule("golang.org/x/sync"), "golang.org/x/sync"))
}

func TestWriteLayoutDigest(t *testing.T) {
	b := newLayerBuilder()
	b.File("/hello", 0o644, []byte("hello\n"))
	dir := t.TempDir()
	layer, err := b.Layer(filepath.Join(dir, "layer.tar.gz"))
	assert.NilError(t, err)
	img, err := mutate.AppendLayers(empty.Image, layer)
	assert.NilError(t, err)

	out := filepath.Join(dir, "content")
	assert.NilError(t, os.MkdirAll(filepath.Join(out, "stale"), 0o755))
	digest, err := writeLayout(out, img)
	assert.NilError(t, err)

	written, err := os.ReadFile(filepath.Join(out, digestFile))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(strings.TrimSpace(string(written)), digest))
	_, err = os.Stat(filepath.Join(out, "stale"))
	assert.Check(t, errors.Is(err, os.ErrNotExist), "the old folder's content is left: %v", err)

	index, err := layout.ImageIndexFromPath(out)
	assert.NilError(t, err)
	manifest, err := index.IndexManifest()
	assert.NilError(t, err)
	assert.Assert(t, is.Len(manifest.Manifests, 1))
	assert.Check(t, is.Equal(manifest.Manifests[0].Digest.String(), digest))
	_, err = os.Stat(filepath.Join(out, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:")))
	assert.Check(t, err)
}
