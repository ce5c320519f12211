package registry_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/pipeline/registry"
)

func openSource(t testing.TB, p string) *registry.Source {
	t.Helper()
	src, err := registry.Open(p)
	assert.NilError(t, err)
	t.Cleanup(func() { assert.NilError(t, src.Close()) })
	return src
}

func push(t *testing.T, c *registry.Client, a registry.Artifact, ref string) registry.Result {
	t.Helper()
	result, err := c.Push(context.Background(), registry.PushRequest{Artifact: a, Reference: ref})
	assert.NilError(t, err)
	return result
}

func digestOf(t *testing.T, a interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	d, err := a.Digest()
	assert.NilError(t, err)
	return d.String()
}

func TestPushLayout(t *testing.T) {
	reg := startRegistry(t, nil)
	img := randomImage(t, 2048, 3)
	src := openSource(t, writeLayout(t, img))
	assert.Equal(t, src.Format, "oci-layout")

	result := push(t, registry.New(registry.Options{}), src.Artifact, reg.Host+"/owner/app:v0.1")

	want := digestOf(t, img)
	assert.Equal(t, result.Digest, want)
	assert.Equal(t, result.Reference, reg.Host+"/owner/app:v0.1@"+want)
	assert.Check(t, !result.Unchanged)
	assert.Check(t, is.Len(result.Blobs, 4), "3 layers and the config")
	var total int64
	for _, b := range result.Blobs {
		assert.Check(t, b.Uploaded, "blob %s", b.Digest)
		assert.Check(t, is.Equal(b.BytesUploaded, b.Size), "blob %s", b.Digest)
		total += b.Size
	}
	assert.Equal(t, result.BytesUploaded(), total)

	pulled, err := remote.Image(parseReference(t, result.Reference))
	assert.NilError(t, err)
	assert.Equal(t, digestOf(t, pulled), want)
}

func TestPushRepeatUploadsNothing(t *testing.T) {
	reg := startRegistry(t, nil)
	src := openSource(t, writeLayout(t, randomImage(t, 1024, 2)))
	c := registry.New(registry.Options{})
	first := push(t, c, src.Artifact, reg.Host+"/owner/app:v0.1")
	reg.resetRequests()

	second := push(t, c, src.Artifact, reg.Host+"/owner/app:v0.1")

	assert.Check(t, second.Unchanged)
	assert.Equal(t, second.Reference, first.Reference)
	assert.Equal(t, second.BytesUploaded(), int64(0))
	assert.Equal(t, reg.blobUploads(), 0)
}

func TestPushNewTagSendsNoBlobs(t *testing.T) {
	reg := startRegistry(t, nil)
	src := openSource(t, writeLayout(t, randomImage(t, 1024, 2)))
	c := registry.New(registry.Options{})
	first := push(t, c, src.Artifact, reg.Host+"/owner/app:v0.1")
	reg.resetRequests()

	second := push(t, c, src.Artifact, reg.Host+"/owner/app:v0.2")

	assert.Check(t, !second.Unchanged, "the tag is new")
	assert.Equal(t, second.Digest, first.Digest)
	assert.Equal(t, second.BytesUploaded(), int64(0))
	assert.Equal(t, reg.blobUploads(), 0)
	for _, b := range second.Blobs {
		assert.Check(t, !b.Uploaded, "blob %s", b.Digest)
	}
}

func TestPushSendsOnlyMissingLayers(t *testing.T) {
	reg := startRegistry(t, nil)
	base := randomImage(t, 1024, 2)
	layer, err := random.Layer(4096, "application/vnd.docker.image.rootfs.diff.tar.gzip")
	assert.NilError(t, err)
	next, err := mutate.AppendLayers(base, layer)
	assert.NilError(t, err)
	c := registry.New(registry.Options{})
	push(t, c, openSource(t, writeLayout(t, base)).Artifact, reg.Host+"/owner/app:v0.1")
	reg.resetRequests()

	result := push(t, c, openSource(t, writeLayout(t, next)).Artifact, reg.Host+"/owner/app:v0.2")

	layerDigest := digestOf(t, layer)
	size, err := layer.Size()
	assert.NilError(t, err)
	uploaded := map[string]int64{}
	for _, b := range result.Blobs {
		if b.Uploaded {
			uploaded[b.Digest] = b.BytesUploaded
		}
	}
	assert.Check(t, is.Len(uploaded, 2), "the new layer and the new config: %v", uploaded)
	assert.Check(t, is.Equal(uploaded[layerDigest], size))
	assert.Check(t, is.Equal(reg.blobUploads(), 2))
}

func TestPushRejectsOverwrite(t *testing.T) {
	reg := startRegistry(t, nil)
	c := registry.New(registry.Options{})
	ref := reg.Host + "/owner/app:v0.1"
	first := push(t, c, openSource(t, writeLayout(t, randomImage(t, 1024, 1))).Artifact, ref)
	other := randomImage(t, 1024, 1)

	_, err := c.Push(context.Background(), registry.PushRequest{
		Artifact:  openSource(t, writeLayout(t, other)).Artifact,
		Reference: ref,
	})

	assert.Check(t, is.ErrorIs(err, registry.ErrTagExists))
	var exists *registry.TagExistsError
	assert.Assert(t, errors.As(err, &exists))
	assert.Check(t, is.Equal(exists.Existing, first.Digest))
	assert.Check(t, is.Equal(exists.Pushing, digestOf(t, other)))
	assert.Check(t, is.ErrorContains(err, first.Digest))
	assert.Check(t, is.ErrorContains(err, digestOf(t, other)))
	got, err := c.Resolve(context.Background(), ref)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got, first.Digest), "the tag did not move")
}

func TestPushOverwriteMovesTag(t *testing.T) {
	reg := startRegistry(t, nil)
	c := registry.New(registry.Options{})
	ref := reg.Host + "/owner/app:latest"
	first := push(t, c, openSource(t, writeLayout(t, randomImage(t, 1024, 1))).Artifact, ref)
	other := openSource(t, writeLayout(t, randomImage(t, 1024, 1)))

	result, err := c.Push(context.Background(), registry.PushRequest{Artifact: other.Artifact, Reference: ref, Overwrite: true})

	assert.NilError(t, err)
	assert.Check(t, is.Equal(result.Overwritten, first.Digest))
	got, err := c.Resolve(context.Background(), ref)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got, result.Digest))
}

func TestPushOCITarball(t *testing.T) {
	for _, compress := range []bool{false, true} {
		reg := startRegistry(t, nil)
		img := randomImage(t, 1024, 2)
		src := openSource(t, tarDirectory(t, writeLayout(t, img), compress))
		assert.Check(t, is.Equal(src.Format, "oci-archive"))

		result := push(t, registry.New(registry.Options{}), src.Artifact, reg.Host+"/owner/app:v0.1")

		assert.Check(t, is.Equal(result.Digest, digestOf(t, img)), "gzip %v", compress)
	}
}

func TestPushDockerTarball(t *testing.T) {
	reg := startRegistry(t, nil)
	img := randomImage(t, 1024, 2)
	p := filepath.Join(t.TempDir(), "image.tar")
	assert.NilError(t, tarball.WriteToFile(p, name.MustParseReference("example.com/app:v1"), img))
	src := openSource(t, p)
	assert.Check(t, is.Equal(src.Format, "docker-archive"))

	result := push(t, registry.New(registry.Options{}), src.Artifact, reg.Host+"/owner/app:v0.1")

	assert.Check(t, is.Equal(result.Digest, digestOf(t, img)))
	pulled, err := remote.Image(parseReference(t, result.Reference))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(digestOf(t, pulled), result.Digest))
}

func TestPushIndex(t *testing.T) {
	reg := startRegistry(t, nil)
	index, err := random.Index(1024, 2, 3)
	assert.NilError(t, err)
	src := openSource(t, writeLayout(t, index))

	result := push(t, registry.New(registry.Options{}), src.Artifact, reg.Host+"/owner/app:v0.1")

	assert.Check(t, is.Equal(result.Digest, digestOf(t, index)))
	assert.Check(t, is.Len(result.Blobs, 9), "3 images of 2 layers and a config")
	pulled, err := remote.Index(parseReference(t, result.Reference))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(digestOf(t, pulled), result.Digest))
}

func TestOpenRejects(t *testing.T) {
	two := writeLayout(t, randomImage(t, 256, 1), randomImage(t, 256, 1))
	none := writeLayout(t)
	for _, tc := range []struct {
		name string
		path string
		want string
	}{
		{"missing path", filepath.Join(t.TempDir(), "nothing"), "no such file or directory"},
		{"directory without layout", t.TempDir(), "the directory is not an OCI layout"},
		{"layout with two manifests", two, "index.json lists 2 manifests, expected exactly one"},
		{"layout without manifests", none, "index.json lists 0 manifests, expected exactly one"},
		{"tarball without layout", writeTar(t, map[string]string{"hello.txt": "hi"}), "contains neither index.json (OCI layout) nor manifest.json (docker save)"},
		{"short file", writeFile(t, "not a tarball"), "the file is not a tar archive or an OCI layout directory"},
		{"text file", writeFile(t, strings.Repeat("not a tarball\n", 100)), "the file is not a tar archive or an OCI layout directory"},
		{"gzip file of text", gzipFile(t, strings.Repeat("not a tarball\n", 100)), "the file is not a tar archive or an OCI layout directory"},
		{"empty file", writeFile(t, ""), "the file is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := registry.Open(tc.path)
			assert.Check(t, is.ErrorContains(err, tc.want))
		})
	}
}

func parseReference(t *testing.T, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref)
	assert.NilError(t, err)
	return r
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "file")
	assert.NilError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestOpenTarballStaysInside(t *testing.T) {
	layoutDir := writeLayout(t, randomImage(t, 256, 1))
	files := map[string]string{"../escaped": "x", "/absolute": "y"}
	for _, name := range fileNames(t, layoutDir) {
		content, err := os.ReadFile(filepath.Join(layoutDir, name))
		assert.NilError(t, err)
		files[name] = string(content)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	_, err := registry.Open(writeTar(t, files))

	// os.Root rejects the escaping name, so Open fails and writes nothing
	// outside its directory, which Close has removed.
	assert.Check(t, is.ErrorContains(err, "path escapes from parent"))
	entries, err := os.ReadDir(tmp)
	assert.NilError(t, err)
	assert.Check(t, is.Len(entries, 0))
	_, err = os.Stat(filepath.Join(filepath.Dir(tmp), "escaped"))
	assert.Check(t, errors.Is(err, os.ErrNotExist))
}

func TestPushWrongToken(t *testing.T) {
	const token = "s3cr3t-wrong-token"
	reg := startRegistry(t, map[string]userAccess{"alice": {token: "right-token", write: true}})
	c := registry.New(registry.Options{Credentials: registry.Credentials{Username: "alice", Token: token}})
	src := openSource(t, writeLayout(t, randomImage(t, 256, 1)))

	_, err := c.Push(context.Background(), registry.PushRequest{Artifact: src.Artifact, Reference: reg.Host + "/alice/app:v0.1"})

	assert.Check(t, is.ErrorIs(err, registry.ErrUnauthorized))
	assert.Check(t, is.ErrorContains(err, `push `+reg.Host+`/alice/app:v0.1: registry rejected the credentials for user "alice" (HTTP 401 from `))
	assert.Check(t, is.ErrorContains(err, "write:package"))
	assert.Check(t, !strings.Contains(err.Error(), token), "the token is in the error: %v", err)
}

func TestPushReadOnlyToken(t *testing.T) {
	const token = "read-only-token"
	reg := startRegistry(t, map[string]userAccess{"bob": {token: token, write: false}})
	c := registry.New(registry.Options{Credentials: registry.Credentials{Username: "bob", Token: token}})
	src := openSource(t, writeLayout(t, randomImage(t, 256, 1)))

	_, err := c.Push(context.Background(), registry.PushRequest{Artifact: src.Artifact, Reference: reg.Host + "/bob/app:v0.1"})

	assert.Check(t, is.ErrorIs(err, registry.ErrForbidden))
	assert.Check(t, is.ErrorContains(err, `registry denied access to user "bob" (HTTP 403 from `))
	assert.Check(t, is.ErrorContains(err, "DENIED requested access to the resource is denied"))
	assert.Check(t, !strings.Contains(err.Error(), token), "the token is in the error: %v", err)
}

func TestTagsWrongToken(t *testing.T) {
	const token = "s3cr3t-wrong-token"
	reg := startRegistry(t, map[string]userAccess{"alice": {token: "right-token"}})
	c := registry.New(registry.Options{Credentials: registry.Credentials{Username: "alice", Token: token}})
	repo := reg.Host + "/alice/app"

	_, err := c.Tags(context.Background(), repo)

	assert.Assert(t, err != nil)
	message := err.Error()
	assert.Check(t, is.ErrorIs(err, registry.ErrUnauthorized))
	assert.Check(t, strings.HasPrefix(message, "list tags of "+repo+": registry rejected the credentials"), "message: %s", message)
	assert.Check(t, is.Equal(strings.Count(message, "list tags of"), 1), "message: %s", message)
	assert.Check(t, is.Contains(message, "read:package"))
	assert.Check(t, !strings.Contains(message, "write:package"), "message: %s", message)
	assert.Check(t, !strings.HasSuffix(message, ":") && !strings.HasSuffix(message, " "), "message: %q", message)
	assert.Check(t, !strings.Contains(message, token), "the token is in the error: %v", err)
}

func TestPushWithoutToken(t *testing.T) {
	reg := startRegistry(t, map[string]userAccess{"alice": {token: "right-token", write: true}})
	src := openSource(t, writeLayout(t, randomImage(t, 256, 1)))

	_, err := registry.New(registry.Options{}).Push(context.Background(), registry.PushRequest{Artifact: src.Artifact, Reference: reg.Host + "/alice/app:v0.1"})

	assert.Check(t, is.ErrorIs(err, registry.ErrUnauthorized))
	assert.Check(t, is.ErrorContains(err, "the registry requires a login (HTTP 401 from "))
	assert.Check(t, is.ErrorContains(err, "give a username and a token with the write:package scope"))
}

func TestPushUnknownOwner(t *testing.T) {
	reg := startOwnerRegistry(t, "alice")
	src := openSource(t, writeLayout(t, randomImage(t, 256, 1)))

	_, err := registry.New(registry.Options{}).Push(context.Background(), registry.PushRequest{Artifact: src.Artifact, Reference: reg + "/nobody/app:v0.1"})

	assert.Check(t, is.ErrorIs(err, registry.ErrNotFound))
	assert.Check(t, is.ErrorContains(err, `owner "nobody" does not exist`))
	assert.Check(t, !strings.ContainsAny(err.Error(), "\r\n"), "message: %q", err.Error())
}

func TestTagsSilentRegistry(t *testing.T) {
	silent := startSilentServer(t)
	c := registry.New(registry.Options{ResponseHeaderTimeout: 200 * time.Millisecond})
	// The deadline only ends a test that would otherwise hang.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	_, err := c.Tags(ctx, silent.Host+"/owner/app")

	assert.Check(t, is.ErrorIs(err, registry.ErrUnreachable))
	assert.Check(t, ctx.Err() == nil, "the request timeout did not fire: %v", err)
	assert.Check(t, is.ErrorContains(err, "list tags of "+silent.Host+"/owner/app: registry unreachable: timed out waiting for a response"))
	assert.Check(t, silent.connections() > 0)
	assert.Check(t, !silent.sawTLS(), "the client tried HTTPS on a loopback host")
}

func TestPushSilentRegistryContextDeadline(t *testing.T) {
	silent := startSilentServer(t)
	src := openSource(t, writeLayout(t, randomImage(t, 256, 1)))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()

	_, err := registry.New(registry.Options{}).Push(ctx, registry.PushRequest{Artifact: src.Artifact, Reference: silent.Host + "/owner/app:v0.1"})

	assert.Check(t, is.ErrorIs(err, registry.ErrUnreachable))
	assert.Check(t, is.ErrorIs(err, context.DeadlineExceeded))
	assert.Check(t, is.ErrorContains(err, "timed out waiting for a response"))
}

func TestInsecureHostFallsBackToHTTP(t *testing.T) {
	reg := startRegistry(t, nil)
	_, port, err := net.SplitHostPort(reg.Host)
	assert.NilError(t, err)
	// registry.test resolves nowhere, so the transport dials the registry.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, reg.Host)
	}
	c := registry.New(registry.Options{Transport: transport, Insecure: []string{"registry.test"}})
	src := openSource(t, writeLayout(t, randomImage(t, 256, 1)))

	result, err := c.Push(context.Background(), registry.PushRequest{Artifact: src.Artifact, Reference: "registry.test:" + port + "/owner/app:v0.1"})

	assert.NilError(t, err)
	assert.Check(t, is.Equal(result.Reference, "registry.test:"+port+"/owner/app:v0.1@"+digestOf(t, src.Artifact)))
}

func TestPushUnknownHost(t *testing.T) {
	c := registry.New(registry.Options{Transport: nxDomainTransport(t), Insecure: []string{"registry.invalid"}})
	src := openSource(t, writeLayout(t, randomImage(t, 256, 1)))

	_, err := c.Push(context.Background(), registry.PushRequest{Artifact: src.Artifact, Reference: "registry.invalid:5000/owner/app:v0.1"})

	assert.Check(t, is.ErrorIs(err, registry.ErrUnreachable))
	assert.Check(t, is.ErrorContains(err, `cannot resolve host "registry.invalid"`))
}

func TestPushRefusedConnection(t *testing.T) {
	src := openSource(t, writeLayout(t, randomImage(t, 256, 1)))
	closedHost := closedPort(t)

	_, err := registry.New(registry.Options{}).Push(context.Background(), registry.PushRequest{Artifact: src.Artifact, Reference: closedHost + "/owner/app:v0.1"})

	assert.Check(t, is.ErrorIs(err, registry.ErrUnreachable))
	assert.Check(t, is.ErrorContains(err, "connection refused"))
}

func TestPushRejectsReference(t *testing.T) {
	src := openSource(t, writeLayout(t, randomImage(t, 256, 1)))
	c := registry.New(registry.Options{})
	for _, tc := range []struct {
		ref  string
		want string
	}{
		{"127.0.0.1:5000/owner/app", "parse reference \"127.0.0.1:5000/owner/app\": expected REGISTRY/OWNER/NAME:TAG"},
		{"app:v1", "expected REGISTRY/OWNER/NAME:TAG"},
		{"owner/app:v1", "registry to be explicitly defined"},
		{"127.0.0.1:5000/Owner/app:v1", "repository can only contain"},
		{"127.0.0.1:5000/owner/app:.v1", "invalid tag \".v1\": a tag must start with a letter, a digit or '_'"},
	} {
		_, err := c.Push(context.Background(), registry.PushRequest{Artifact: src.Artifact, Reference: tc.ref})
		assert.Check(t, is.ErrorContains(err, tc.want), "reference %q", tc.ref)
	}
}

func TestParseTagInsecure(t *testing.T) {
	const cluster = "gitea-http.gitea.svc.cluster.local:3000"
	for _, tc := range []struct {
		insecure []string
		ref      string
		scheme   string
	}{
		{nil, cluster + "/o/a:v1", "https"},
		{[]string{cluster}, cluster + "/o/a:v1", "http"},
		{[]string{"gitea-http.gitea.svc.cluster.local"}, cluster + "/o/a:v1", "http"},
		{[]string{"other:3000"}, cluster + "/o/a:v1", "https"},
		{nil, "127.0.0.1:3000/o/a:v1", "http"},
		{nil, "localhost:3000/o/a:v1", "http"},
		{nil, "registry.example.com/o/a:v1", "https"},
	} {
		c := registry.New(registry.Options{Insecure: tc.insecure})
		tag, err := c.ParseTag(tc.ref)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(tag.Scheme(), tc.scheme), "reference %q, insecure %v", tc.ref, tc.insecure)
	}
}

func TestResolveMissingTag(t *testing.T) {
	reg := startRegistry(t, nil)
	c := registry.New(registry.Options{})

	_, err := c.Resolve(context.Background(), reg.Host+"/owner/app:v9")

	assert.Check(t, is.ErrorIs(err, registry.ErrNotFound))
	assert.Check(t, is.ErrorContains(err, "resolve "+reg.Host+"/owner/app:v9"))
}

func TestTags(t *testing.T) {
	reg := startRegistry(t, nil)
	c := registry.New(registry.Options{})
	src := openSource(t, writeLayout(t, randomImage(t, 256, 1)))
	for _, tag := range []string{"v0.1", "v0.2", "abc1234"} {
		push(t, c, src.Artifact, reg.Host+"/owner/app:"+tag)
	}

	tags, err := c.Tags(context.Background(), reg.Host+"/owner/app")

	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(tags, []string{"abc1234", "v0.1", "v0.2"}))
}

func TestTagsOfMissingRepository(t *testing.T) {
	reg := startRegistry(t, nil)

	tags, err := registry.New(registry.Options{}).Tags(context.Background(), reg.Host+"/owner/none")

	assert.NilError(t, err)
	assert.Check(t, is.Len(tags, 0))
}
