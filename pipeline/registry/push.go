package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"
)

// PushRequest is the artifact to push and its destination.
type PushRequest struct {
	// Artifact is the image or index to push, from Open.
	Artifact Artifact
	// Reference is REGISTRY/OWNER/NAME:TAG, such as
	// 127.0.0.1:3000/owner/app:v0.2.
	Reference string
	// Overwrite allows moving a tag that points at a different digest.
	Overwrite bool
}

// Result describes a push.
type Result struct {
	// Reference is REGISTRY/OWNER/NAME:TAG@sha256:..., the tag with the
	// digest of the pushed manifest.
	Reference string `json:"reference"`
	// Digest is the digest of the pushed manifest.
	Digest string `json:"digest"`
	// Unchanged is true when the tag already pointed at Digest, so
	// nothing was uploaded.
	Unchanged bool `json:"unchanged"`
	// Overwritten is the digest the tag pointed at before Overwrite moved
	// it, or empty.
	Overwritten string `json:"overwritten,omitempty"`
	// Blobs lists every layer and config blob of the artifact.
	Blobs []Blob `json:"blobs"`
}

// Blob is one layer or config blob of a push.
type Blob struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	// Size is the blob's size in bytes.
	Size int64 `json:"size"`
	// Uploaded is true when the registry lacked the blob and Push sent it.
	Uploaded bool `json:"uploaded"`
	// BytesUploaded is the number of bytes sent for the blob, retries
	// included. It is 0 when the registry already had the blob.
	BytesUploaded int64 `json:"bytesUploaded"`
}

// BytesUploaded returns the total bytes sent for the blobs of r.
func (r Result) BytesUploaded() int64 {
	var total int64
	for _, b := range r.Blobs {
		total += b.BytesUploaded
	}
	return total
}

// Push uploads req.Artifact under req.Reference and returns the
// reference with its digest. Blobs the registry already has are not sent.
// A tag that points at the same digest is left alone (Result.Unchanged).
// A tag that points at a different digest returns a *TagExistsError,
// unless req.Overwrite is set.
func (c *Client) Push(ctx context.Context, req PushRequest) (Result, error) {
	if req.Artifact == nil {
		return Result{}, errors.New("push: no image given")
	}
	ref, err := c.ParseTag(req.Reference)
	if err != nil {
		return Result{}, err
	}
	op := "push " + ref.String()
	digest, err := req.Artifact.Digest()
	if err != nil {
		return Result{}, fmt.Errorf("%s: compute the image digest: %w", op, err)
	}
	blobs, err := collectBlobs(req.Artifact)
	if err != nil {
		return Result{}, fmt.Errorf("%s: read the image: %w", op, err)
	}
	result := Result{
		Reference: fmt.Sprintf("%s:%s@%s", ref.Context().Name(), ref.TagStr(), digest),
		Digest:    digest.String(),
		Blobs:     make([]Blob, 0, len(blobs)),
	}
	for _, b := range blobs {
		result.Blobs = append(result.Blobs, b.Blob)
	}

	existing, err := c.existingDigest(ctx, ref)
	if err != nil {
		return Result{}, c.classify(op, ref.Context(), writeAccess, err)
	}
	switch {
	case existing == digest.String():
		result.Unchanged = true
		return result, nil
	case existing != "" && !req.Overwrite:
		return Result{}, &TagExistsError{Reference: ref.String(), Existing: existing, Pushing: digest.String()}
	case existing != "":
		result.Overwritten = existing
	}
	// NOTE: a push that moves the tag between this check and the manifest
	// upload below is overwritten, because the distribution API has no
	// conditional tag update.

	pusher, err := remote.NewPusher(c.remoteOptions(ctx)...)
	if err != nil {
		return Result{}, c.classify(op, ref.Context(), writeAccess, err)
	}
	if err := c.uploadBlobs(ctx, pusher, ref.Context(), blobs); err != nil {
		return Result{}, c.classify(op, ref.Context(), writeAccess, err)
	}
	for i, b := range blobs {
		result.Blobs[i].BytesUploaded = b.bytes.Load()
		result.Blobs[i].Uploaded = b.opened.Load()
	}
	// The pusher remembers the blobs it uploaded or found, so Push only
	// writes the manifests, children first.
	if err := pusher.Push(ctx, ref, req.Artifact); err != nil {
		return Result{}, c.classify(op, ref.Context(), writeAccess, err)
	}
	return result, nil
}

// existingDigest returns the digest ref points at, or "" when the tag or
// the repository does not exist.
func (c *Client) existingDigest(ctx context.Context, ref name.Tag) (string, error) {
	desc, err := remote.Head(ref, c.remoteOptions(ctx)...)
	if err != nil {
		if isNotFoundResponse(err) {
			return "", nil
		}
		return "", err
	}
	return desc.Digest.String(), nil
}

// countedBlob wraps a blob so that reading it for upload counts bytes.
// go-containerregistry opens a blob only when the registry lacks it.
type countedBlob struct {
	Blob
	layer  v1.Layer
	bytes  atomic.Int64
	opened atomic.Bool
}

// countingLayer is the v1.Layer that Pusher.Upload receives.
type countingLayer struct {
	v1.Layer
	blob *countedBlob
}

func (l countingLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	l.blob.opened.Store(true)
	return &countingReader{ReadCloser: rc, count: &l.blob.bytes}, nil
}

type countingReader struct {
	io.ReadCloser
	count *atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.count.Add(int64(n))
	return n, err
}

// uploadBlobs uploads the blobs the registry lacks, c.jobs at a time.
func (c *Client) uploadBlobs(ctx context.Context, pusher *remote.Pusher, repo name.Repository, blobs []*countedBlob) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(c.jobs)
	for _, b := range blobs {
		g.Go(func() error {
			if err := pusher.Upload(ctx, repo, countingLayer{Layer: b.layer, blob: b}); err != nil {
				return fmt.Errorf("upload blob %s: %w", b.Digest, err)
			}
			if b.opened.Load() {
				c.logger.Info("uploaded blob", "digest", b.Digest, "bytes", b.bytes.Load())
			} else {
				c.logger.Info("blob exists", "digest", b.Digest, "size", b.Size)
			}
			return nil
		})
	}
	return g.Wait()
}

// collectBlobs lists the distinct layer and config blobs of a, walking
// the children of an index, in manifest order.
func collectBlobs(a Artifact) ([]*countedBlob, error) {
	var blobs []*countedBlob
	seen := map[v1.Hash]bool{}
	add := func(l v1.Layer) error {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		if seen[d] {
			return nil
		}
		seen[d] = true
		mt, err := l.MediaType()
		if err != nil {
			return err
		}
		if !mt.IsDistributable() {
			// go-containerregistry skips foreign layers by default.
			return nil
		}
		size, err := l.Size()
		if err != nil {
			return err
		}
		blobs = append(blobs, &countedBlob{
			Blob:  Blob{Digest: d.String(), MediaType: string(mt), Size: size},
			layer: l,
		})
		return nil
	}

	var walk func(a any) error
	walk = func(a any) error {
		switch a := a.(type) {
		case v1.Image:
			layers, err := a.Layers()
			if err != nil {
				return err
			}
			for _, l := range layers {
				if err := add(l); err != nil {
					return err
				}
			}
			config, err := partial.ConfigLayer(a)
			if err != nil {
				return err
			}
			return add(config)
		case v1.ImageIndex:
			children, err := partial.Manifests(a)
			if err != nil {
				return err
			}
			for _, child := range children {
				if err := walk(child); err != nil {
					return err
				}
			}
			return nil
		case v1.Layer:
			// An index may list a blob directly, such as an attestation.
			return add(a)
		default:
			return fmt.Errorf("unexpected manifest type %T", a)
		}
	}
	return blobs, walk(a)
}
