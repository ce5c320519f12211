package registry_test

import (
	"context"
	"fmt"
	"testing"

	"gotest.tools/v3/assert"

	"github.com/incluster/incluster/pipeline/registry"
)

// benchmarkSetup starts an in-memory registry and opens an OCI layout
// of 4 layers of 4 MiB of random data, which does not compress.
func benchmarkSetup(b *testing.B) (*testRegistry, *registry.Source) {
	b.Helper()
	reg := startRegistry(b, nil)
	src := openSource(b, writeLayout(b, randomImage(b, 4<<20, 4)))
	return reg, src
}

// BenchmarkPush pushes to a new in-memory registry on each iteration, so
// every blob is uploaded. bytes-uploaded/op is the bytes sent per push.
func BenchmarkPush(b *testing.B) {
	_, src := benchmarkSetup(b)
	c := registry.New(registry.Options{})
	var uploaded int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// The in-memory registry shares blobs between repositories, so
		// only a new registry lacks them all.
		reg := startRegistry(b, nil)
		b.StartTimer()

		result, err := c.Push(context.Background(), registry.PushRequest{Artifact: src.Artifact, Reference: reg.Host + "/owner/app:v0.1"})
		assert.NilError(b, err)
		uploaded += result.BytesUploaded()
		// MB/s is then the upload rate.
		b.SetBytes(result.BytesUploaded())
	}
	b.ReportMetric(float64(uploaded)/float64(b.N), "bytes-uploaded/op")
}

// BenchmarkPushNewTag pushes an image the repository already has under a
// new tag on each iteration: only the manifest is sent.
func BenchmarkPushNewTag(b *testing.B) {
	reg, src := benchmarkSetup(b)
	c := registry.New(registry.Options{})
	_, err := c.Push(context.Background(), registry.PushRequest{Artifact: src.Artifact, Reference: reg.Host + "/owner/app:v0.1"})
	assert.NilError(b, err)
	var uploaded int64
	i := 0
	for b.Loop() {
		i++
		result, err := c.Push(context.Background(), registry.PushRequest{Artifact: src.Artifact, Reference: fmt.Sprintf("%s/owner/app:build-%d", reg.Host, i)})
		assert.NilError(b, err)
		uploaded += result.BytesUploaded()
	}
	b.ReportMetric(float64(uploaded)/float64(i), "bytes-uploaded/op")
}
