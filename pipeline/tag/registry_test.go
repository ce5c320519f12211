package tag_test

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/pipeline/registry"
	"github.com/incluster/incluster/pipeline/tag"
)

func startRegistry(t *testing.T) string {
	t.Helper()
	server := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(server.Close)
	return strings.TrimPrefix(server.URL, "http://")
}

func TestNextFromRegistry(t *testing.T) {
	host := startRegistry(t)
	repo := host + "/owner/app"
	client := registry.New(registry.Options{})
	img, err := random.Image(256, 1)
	assert.NilError(t, err)
	for _, name := range []string{"v0.1", "v0.2", "1234567", "latest"} {
		ref, err := client.ParseTag(repo + ":" + name)
		assert.NilError(t, err)
		assert.NilError(t, remote.Write(ref, img))
	}

	next, err := tag.NextFromRegistry(context.Background(), client, repo)

	assert.NilError(t, err)
	assert.Check(t, is.Equal(next, "v0.3"))
}

func TestNextFromRegistryEmpty(t *testing.T) {
	host := startRegistry(t)

	next, err := tag.NextFromRegistry(context.Background(), registry.New(registry.Options{}), host+"/owner/new")

	assert.NilError(t, err)
	assert.Check(t, is.Equal(next, tag.First))
}

func TestNextFromRegistryUnreachable(t *testing.T) {
	server := httptest.NewServer(ggcrregistry.New())
	repo := strings.TrimPrefix(server.URL, "http://") + "/owner/app"
	server.Close()

	_, err := tag.NextFromRegistry(context.Background(), registry.New(registry.Options{}), repo)

	assert.Check(t, is.ErrorIs(err, registry.ErrUnreachable))
	assert.Check(t, is.ErrorContains(err, "list tags of "+repo))
	assert.Check(t, is.Equal(strings.Count(err.Error(), "list tags of"), 1), "message: %s", err)
}
