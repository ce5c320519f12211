//go:build stack

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/internal/stacktest"
	"github.com/incluster/incluster/pipeline/tag"
)

// TestPodinfo ships podinfo with one build-and-push call and checks what
// it produced in subtests, which share that call.
func TestPodinfo(t *testing.T) {
	s := stacktest.Get(t)
	src := podinfo(t)
	acct := newAccount(t, s)

	// The manifest repository holds podinfo's own Deployment, with its
	// image moved to the registry that build-and-push pushes to, as a
	// cluster that runs its own build of podinfo has it. build-and-push
	// changes only the tag and the digest of a matching image.
	original, err := os.ReadFile(filepath.Join(src.dir, podinfoManifest))
	assert.NilError(t, err)
	repository := s.ClusterGitea + "/" + acct.name + "/podinfo"
	oldLine := "image: " + podinfoImage + ":" + podinfoVersion
	assert.Assert(t, is.Equal(strings.Count(string(original), oldLine), 1), "image line of podinfo's %s", podinfoManifest)
	manifest := strings.Replace(string(original), oldLine, "image: "+repository+":"+podinfoVersion, 1)
	repo := acct.createRepo(t, "deploy", map[string]string{podinfoManifest: manifest})
	before := acct.head(t, repo)

	p := pipeline{
		src:          src,
		acct:         acct,
		app:          "podinfo",
		pkg:          podinfoPackage,
		manifestRepo: repo,
		manifestPath: podinfoManifest,
	}
	first := parseResult(t, buildAndPush(t, s, p))
	pushedRepository, imageTag, digest := splitReference(t, first.reference)
	// The host reaches the registry at another address than the engine.
	hostRef := s.Registry + "/" + acct.name + "/podinfo@" + digest

	t.Run("reference", func(t *testing.T) {
		assert.Check(t, is.Equal(pushedRepository, repository))
		assert.Check(t, is.Equal(first.digest, digest), "digest output against the reference")
		short, err := tag.FromCommit(src.commit, tag.DefaultShortLength)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(imageTag, short), "tag derived from commit %s", src.commit)
	})

	t.Run("commit", func(t *testing.T) {
		head := acct.head(t, repo)
		assert.Check(t, head != before, "build-and-push made no commit to %s", repo)
		assert.Check(t, is.Equal(first.commit, head), "reported commit against the tip of %s", repo)
	})

	t.Run("image", func(t *testing.T) {
		img := pullImage(t, hostRef, acct)
		got, err := img.Digest()
		assert.NilError(t, err)
		assert.Check(t, is.Equal(got.String(), digest), "digest of the pulled image")

		config, err := img.ConfigFile()
		assert.NilError(t, err, "read the config of %s", hostRef)
		// The module puts every service's binary at /app.
		assert.Check(t, is.DeepEqual(config.Config.Entrypoint, []string{"/app"}))
		assert.Check(t, is.Contains([]string{"65532", "65532:65532", "nonroot", "nonroot:nonroot"}, config.Config.User),
			"user %q is not distroless's nonroot user", config.Config.User)

		assert.Check(t, config.Created.Time.Equal(src.commitTime), "image created at %s, want the commit time %s",
			config.Created.Time, src.commitTime)

		labels := config.Config.Labels
		created := src.commitTime.Format(time.RFC3339)
		assert.Check(t, is.Equal(labels["org.opencontainers.image.revision"], src.commit), "revision label")
		assert.Check(t, is.Equal(labels["org.opencontainers.image.version"], imageTag), "version label")
		assert.Check(t, is.Equal(labels["org.opencontainers.image.created"], created), "created label")
	})

	t.Run("binary version", func(t *testing.T) {
		run := runDagger(t, s, t.TempDir(), nil, []secret{acct.secret()},
			"core", "container",
			"from", "--address", s.Registry+"/"+acct.name+"/podinfo@"+digest,
			"with-exec", "--use-entrypoint", "--args=--version",
			"stdout")
		requireSuccess(t, run)
		assert.Check(t, is.Equal(strings.TrimSpace(run.stdout), podinfoVersion))
	})

	t.Run("manifest", func(t *testing.T) {
		got := acct.readFile(t, repo, podinfoManifest)
		want := strings.Replace(string(original), oldLine, "image: "+first.reference, 1)
		assert.Check(t, is.Equal(got, want), "%s in %s after the bump", podinfoManifest, repo)
	})

	t.Run("second run changes nothing", func(t *testing.T) {
		headBefore := acct.head(t, repo)
		blobsBefore := imageBlobs(t, pullImage(t, hostRef, acct))

		second := parseResult(t, buildAndPush(t, s, p))

		assert.Check(t, is.Equal(second.reference, first.reference), "second run pushed another image")
		assert.Check(t, is.Equal(second.commit, ""), "second run reported a commit")
		assert.Check(t, is.Equal(acct.head(t, repo), headBefore), "second run committed to %s", repo)
		assert.Check(t, is.DeepEqual(acct.tags(t, s.Registry, "podinfo"), []string{imageTag}))
		blobsAfter := imageBlobs(t, pullImage(t, s.Registry+"/"+acct.name+"/podinfo:"+imageTag, acct))
		assert.Check(t, is.DeepEqual(blobsAfter, blobsBefore), "layers of the tag after the second run")
		assert.Check(t, first.push.BytesUploaded() > 0, "first run uploaded nothing")
		assert.Check(t, second.push.Unchanged, "second run moved the tag")
		assert.Check(t, is.Equal(second.push.BytesUploaded(), int64(0)), "bytes uploaded by the second run")
	})
}

// pullImage reads the image ref from the registry with acct's token.
func pullImage(t *testing.T, ref string, acct *account) v1.Image {
	t.Helper()
	parsed, err := name.ParseReference(ref)
	assert.NilError(t, err)
	img, err := remote.Image(parsed,
		remote.WithContext(context.Background()),
		remote.WithAuth(&authn.Basic{Username: acct.name, Password: acct.token}))
	assert.NilError(t, err, "pull %s", ref)
	return img
}

// imageBlobs returns the sorted digests of img's config and layers.
func imageBlobs(t *testing.T, img v1.Image) []string {
	t.Helper()
	config, err := img.ConfigName()
	assert.NilError(t, err)
	blobs := []string{config.String()}
	layers, err := img.Layers()
	assert.NilError(t, err)
	for _, layer := range layers {
		digest, err := layer.Digest()
		assert.NilError(t, err)
		blobs = append(blobs, digest.String())
	}
	sort.Strings(blobs)
	return blobs
}
