package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// binaryPath is the program's path in the image that build-and-push
// builds, as a tar entry name.
const binaryPath = "app"

// baseline is the work that a warm run cannot avoid, measured on the host.
type baseline struct {
	// GoBuild is a host go build of the main package after the change,
	// with a build cache that has the package before the change.
	GoBuild time.Duration `json:"goBuild"`
	// Push is a go-containerregistry push of the binary as one layer onto
	// the base image, into the repository that the pipeline pushed to.
	Push time.Duration `json:"push"`
	// PushBytes is the compressed size of that layer, the bytes uploaded.
	PushBytes int64 `json:"pushBytes"`
	// Commit is reading the manifest and committing it once through
	// Gitea's contents API.
	Commit time.Duration `json:"commit"`
	// BinaryBytes is the size of the host-built binary.
	BinaryBytes int64 `json:"binaryBytes"`
}

// Total returns the baseline's wall time.
func (b baseline) Total() time.Duration { return b.GoBuild + b.Push + b.Commit }

// goBuild builds the target's main package on the host with the flags
// that build-and-push uses in the engine, into out.
func goBuild(ctx context.Context, t target, src source, version, out string) error {
	_, err := command(ctx, src.dir, []string{"CGO_ENABLED=0", "GOFLAGS=-buildvcs=false"},
		"go", "build", "-ldflags", "-s -w -X main.version="+version, "-o", out, t.pkg)
	return err
}

// measureBaseline times the baseline on src, which the warm run built.
// The host's build cache already holds the source before the change,
// from warmUp.
func (b *bencher) measureBaseline(ctx context.Context, t target, src source, repo manifestRepo, tag string) (baseline, error) {
	var res baseline
	binary := filepath.Join(b.work, t.name+"-baseline")
	start := time.Now()
	if err := goBuild(ctx, t, src, tag, binary); err != nil {
		return res, err
	}
	res.GoBuild = time.Since(start)
	info, err := os.Stat(binary)
	if err != nil {
		return res, fmt.Errorf("read the baseline binary: %w", err)
	}
	res.BinaryBytes = info.Size()

	start = time.Now()
	pushed, err := b.pushBinary(ctx, binary, repo, "baseline-"+tag)
	if err != nil {
		return res, err
	}
	res.Push = time.Since(start)
	res.PushBytes = pushed

	start = time.Now()
	image := b.env.ClusterGitea + "/" + b.env.GiteaUser + "/" + repo.app + ":baseline-" + tag
	if err := b.gitea.commitImage(repo, image); err != nil {
		return res, err
	}
	res.Commit = time.Since(start)
	return res, nil
}

// pushBinary pushes the base image with the binary as one more layer
// to the image repository as tag, and returns the layer's compressed
// size. The layer's file time is now, so the layer is new to the
// registry.
func (b *bencher) pushBinary(ctx context.Context, binary string, repo manifestRepo, tag string) (int64, error) {
	auth := remote.WithAuth(&authn.Basic{Username: b.env.GiteaUser, Password: b.env.token})
	baseRef, err := name.ParseReference(b.env.BaseImage, name.Insecure)
	if err != nil {
		return 0, fmt.Errorf("parse the base image %s: %w", b.env.BaseImage, err)
	}
	base, err := remote.Image(baseRef, remote.WithContext(ctx), auth)
	if err != nil {
		return 0, fmt.Errorf("read the base image %s: %w", b.env.BaseImage, err)
	}

	data, err := os.ReadFile(binary)
	if err != nil {
		return 0, fmt.Errorf("read the baseline binary: %w", err)
	}
	layerTar, err := tarFile(binaryPath, data, time.Now())
	if err != nil {
		return 0, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return 0, fmt.Errorf("make the binary layer: %w", err)
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer})
	if err != nil {
		return 0, fmt.Errorf("add the binary layer: %w", err)
	}

	cfg, err := img.ConfigFile()
	if err != nil {
		return 0, fmt.Errorf("read the image config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Config.Entrypoint = []string{"/" + binaryPath}
	cfg.Config.User = "65532:65532"
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return 0, fmt.Errorf("set the image config: %w", err)
	}

	ref, err := name.NewTag(b.env.Registry+"/"+b.env.GiteaUser+"/"+repo.app+":"+tag, name.Insecure)
	if err != nil {
		return 0, fmt.Errorf("parse the baseline reference: %w", err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx), auth); err != nil {
		return 0, fmt.Errorf("push %s: %w", ref, err)
	}
	return layer.Size()
}

// tarFile returns a tar archive of one executable file.
func tarFile(path string, data []byte, modTime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: path, Mode: 0o755, Size: int64(len(data)), ModTime: modTime, Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("write the binary layer: %w", err)
	}
	if _, err := tw.Write(data); err != nil {
		return nil, fmt.Errorf("write the binary layer: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write the binary layer: %w", err)
	}
	return buf.Bytes(), nil
}

// imageSizes compares a pushed image with its base.
type imageSizes struct {
	// Image and Base are the sums of the compressed layer sizes and the
	// config size.
	Image int64 `json:"image"`
	Base  int64 `json:"base"`
	// Layers and BaseLayers are the layer counts.
	Layers     int `json:"layers"`
	BaseLayers int `json:"baseLayers"`
	// Binary is the program's size in the image, uncompressed.
	Binary int64 `json:"binary"`
	// BinaryLayer is the compressed size of the layer that holds it.
	BinaryLayer int64 `json:"binaryLayer"`
}

// measureImage reads the pushed image and the base image from the
// registry, as the host reaches it.
func (b *bencher) measureImage(ctx context.Context, repo manifestRepo, digest string) (imageSizes, error) {
	var res imageSizes
	auth := remote.WithAuth(&authn.Basic{Username: b.env.GiteaUser, Password: b.env.token})
	read := func(ref string) (v1.Image, error) {
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", ref, err)
		}
		img, err := remote.Image(r, remote.WithContext(ctx), auth)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", ref, err)
		}
		return img, nil
	}
	img, err := read(b.env.Registry + "/" + b.env.GiteaUser + "/" + repo.app + "@" + digest)
	if err != nil {
		return res, err
	}
	base, err := read(b.env.BaseImage)
	if err != nil {
		return res, err
	}

	if res.Image, res.Layers, err = compressedSize(img); err != nil {
		return res, err
	}
	if res.Base, res.BaseLayers, err = compressedSize(base); err != nil {
		return res, err
	}

	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		return res, fmt.Errorf("read the layers of %s: %v", digest, err)
	}
	top := layers[len(layers)-1]
	if res.BinaryLayer, err = top.Size(); err != nil {
		return res, fmt.Errorf("read the binary layer's size: %w", err)
	}
	res.Binary, err = fileSizeInLayer(top, binaryPath)
	return res, err
}

func compressedSize(img v1.Image) (int64, int, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, 0, fmt.Errorf("read the image manifest: %w", err)
	}
	total := m.Config.Size
	for _, l := range m.Layers {
		total += l.Size
	}
	return total, len(m.Layers), nil
}

// fileSizeInLayer returns the size of the file path in layer.
func fileSizeInLayer(layer v1.Layer, path string) (int64, error) {
	rc, err := layer.Uncompressed()
	if err != nil {
		return 0, fmt.Errorf("read the binary layer: %w", err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("read the binary layer: no %s in it", path)
		}
		if err != nil {
			return 0, fmt.Errorf("read the binary layer: %w", err)
		}
		if filepath.Clean(hdr.Name) == path {
			return hdr.Size, nil
		}
	}
}
