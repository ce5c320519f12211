package registry

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Artifact is an image or an image index loaded from disk.
type Artifact interface {
	remote.Taggable
	Digest() (v1.Hash, error)
}

// Source is an artifact read from an OCI layout directory or a tarball.
// Close removes the temporary files that reading it needed.
type Source struct {
	Artifact Artifact
	// Format is "oci-layout", "oci-archive" or "docker-archive".
	Format  string
	cleanup func() error
}

// Close removes the temporary directory an OCI or compressed tarball
// was extracted to. It is safe to call more than once.
func (s *Source) Close() error {
	if s.cleanup == nil {
		return nil
	}
	err := s.cleanup()
	s.cleanup = nil
	return err
}

// Open loads the image or index at path, which is one of:
//   - an OCI image layout directory (index.json, blobs/sha256/...),
//   - a tarball of such a layout, as Dagger's Container.Export and
//     Container.AsTarball write it,
//   - a docker tarball with a manifest.json, as `docker save` writes it.
//
// A tarball may be gzip-compressed. When a tarball contains both an
// index.json and a manifest.json, the OCI layout is used, because it
// keeps the manifest and so the digest exactly as the builder wrote them.
// The layout's index.json must list exactly one manifest: an image, or an
// index for several platforms.
func Open(p string) (*Source, error) {
	info, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("open image %s: %w", p, err)
	}
	if info.IsDir() {
		if _, err := os.Stat(filepath.Join(p, "index.json")); err != nil {
			return nil, fmt.Errorf("open image %s: the directory is not an OCI layout: %w", p, err)
		}
		a, err := openLayout(p)
		if err != nil {
			return nil, err
		}
		return &Source{Artifact: a, Format: "oci-layout"}, nil
	}
	if info.Size() == 0 {
		return nil, fmt.Errorf("open image %s: the file is empty", p)
	}
	return openTarball(p)
}

// openTarball opens the tarball at p. Messages name p, also when they
// are about the decompressed copy of p.
func openTarball(p string) (_ *Source, rerr error) {
	original := p
	var cleanups []func() error
	cleanup := func() error {
		var errs []error
		for i := len(cleanups) - 1; i >= 0; i-- {
			errs = append(errs, cleanups[i]())
		}
		return errors.Join(errs...)
	}
	defer func() {
		if rerr != nil {
			_ = cleanup()
		}
	}()

	compressed, err := isGzip(p)
	if err != nil {
		return nil, err
	}
	if compressed {
		plain, err := decompress(p)
		if err != nil {
			return nil, err
		}
		cleanups = append(cleanups, func() error { return os.Remove(plain) })
		p = plain
	}

	hasIndex, hasManifest, err := scanTarball(p, original)
	if err != nil {
		return nil, err
	}
	switch {
	case hasIndex:
		dir, err := os.MkdirTemp("", "incluster-oci-")
		if err != nil {
			return nil, fmt.Errorf("create a directory to extract %s: %w", p, err)
		}
		cleanups = append(cleanups, func() error { return os.RemoveAll(dir) })
		if err := extract(p, dir); err != nil {
			return nil, err
		}
		a, err := openLayout(dir)
		if err != nil {
			return nil, fmt.Errorf("read OCI tarball %s: %w", original, err)
		}
		return &Source{Artifact: a, Format: "oci-archive", cleanup: cleanup}, nil
	case hasManifest:
		img, err := tarball.ImageFromPath(p, nil)
		if err != nil {
			return nil, fmt.Errorf("read docker tarball %s: %w", original, err)
		}
		return &Source{Artifact: img, Format: "docker-archive", cleanup: cleanup}, nil
	default:
		return nil, fmt.Errorf("read tarball %s: it contains neither index.json (OCI layout) nor manifest.json (docker save)", original)
	}
}

// openLayout returns the single manifest that the layout's index.json
// lists.
func openLayout(dir string) (Artifact, error) {
	index, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read OCI layout %s: %w", dir, err)
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read index.json of OCI layout %s: %w", dir, err)
	}
	// NOTE: a layout with several manifests (several tagged images) is
	// rejected instead of pushed as one index, because which of them the
	// caller means is a guess.
	if n := len(manifest.Manifests); n != 1 {
		return nil, fmt.Errorf("read OCI layout %s: index.json lists %d manifests, expected exactly one", dir, n)
	}
	desc := manifest.Manifests[0]
	switch {
	case desc.MediaType.IsImage():
		img, err := index.Image(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("read image %s in OCI layout %s: %w", desc.Digest, dir, err)
		}
		return img, nil
	case desc.MediaType.IsIndex():
		child, err := index.ImageIndex(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("read index %s in OCI layout %s: %w", desc.Digest, dir, err)
		}
		return child, nil
	default:
		return nil, fmt.Errorf("read OCI layout %s: manifest %s has media type %q, expected an image or an index", dir, desc.Digest, desc.MediaType)
	}
}

func isGzip(p string) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, fmt.Errorf("open image %s: %w", p, err)
	}
	defer f.Close()
	magic := make([]byte, 2)
	n, err := io.ReadFull(f, magic)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read image %s: %w", p, err)
	}
	return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b, nil
}

// decompress writes the gunzipped content of p to a temporary file and
// returns its path.
func decompress(p string) (_ string, rerr error) {
	in, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("open image %s: %w", p, err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(bufio.NewReader(in))
	if err != nil {
		return "", fmt.Errorf("decompress image %s: %w", p, err)
	}
	out, err := os.CreateTemp("", "incluster-image-*.tar")
	if err != nil {
		return "", fmt.Errorf("create a file to decompress %s: %w", p, err)
	}
	defer func() {
		if err := out.Close(); err != nil && rerr == nil {
			rerr = fmt.Errorf("decompress image %s: %w", p, err)
		}
		if rerr != nil {
			_ = os.Remove(out.Name())
		}
	}()
	if _, err := io.Copy(out, zr); err != nil {
		return "", fmt.Errorf("decompress image %s: %w", p, err)
	}
	return out.Name(), nil
}

// scanTarball reports whether the tarball at p has an index.json and a
// manifest.json at its root. Messages name the image original.
func scanTarball(p, original string) (hasIndex, hasManifest bool, err error) {
	f, err := os.Open(p)
	if err != nil {
		return false, false, fmt.Errorf("open image %s: %w", original, err)
	}
	defer f.Close()
	tr := tar.NewReader(bufio.NewReader(f))
	for entries := 0; ; entries++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hasIndex, hasManifest, nil
		}
		if err != nil && entries == 0 {
			return false, false, fmt.Errorf("open image %s: the file is not a tar archive or an OCI layout directory: %w", original, err)
		}
		if err != nil {
			return false, false, fmt.Errorf("read tarball %s: %w", original, err)
		}
		switch path.Clean(h.Name) {
		case "index.json":
			hasIndex = true
		case "manifest.json":
			hasManifest = true
		}
	}
}

// extract unpacks the regular files and directories of the tarball at p
// into dir. Entries are created through an os.Root, so a name such as
// ../x or an absolute path cannot escape dir. Links and other entry types
// are skipped because an OCI layout consists of plain files.
func extract(p, dir string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("open image %s: %w", p, err)
	}
	defer f.Close()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("open extraction directory %s: %w", dir, err)
	}
	defer root.Close()

	tr := tar.NewReader(bufio.NewReader(f))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tarball %s: %w", p, err)
		}
		name := filepath.FromSlash(path.Clean(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return fmt.Errorf("extract %s from %s: %w", h.Name, p, err)
			}
		case tar.TypeReg:
			if err := extractFile(root, name, tr); err != nil {
				return fmt.Errorf("extract %s from %s: %w", h.Name, p, err)
			}
		}
	}
}

func extractFile(root *os.Root, name string, r io.Reader) error {
	if d := filepath.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	out, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
