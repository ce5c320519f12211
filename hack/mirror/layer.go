package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// epoch is the modification time of every file and the creation time of
// every image, so that the same inputs always give the same digests.
var epoch = time.Unix(0, 0).UTC()

// layerBuilder collects the entries of one image layer and writes them as
// a tar stream sorted by path, owned by fixed user IDs, with mtime epoch.
type layerBuilder struct {
	entries map[string]*layerEntry
}

// layerEntry is one tar entry. Regular files take their content from data
// or, when src is set, from that file on the host.
type layerEntry struct {
	header tar.Header
	data   []byte
	src    string
	// srcInfo is the host file's size and mtime, for the fingerprint.
	srcInfo string
}

func newLayerBuilder() *layerBuilder {
	return &layerBuilder{entries: map[string]*layerEntry{}}
}

// cleanPath turns an absolute image path into a tar entry name.
func cleanPath(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

// add stores e under name, creating missing parent directories with mode
// 0755 and owner root.
func (b *layerBuilder) add(name string, e *layerEntry) {
	name = cleanPath(name)
	for dir := path.Dir(name); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if _, ok := b.entries[dir]; !ok {
			b.entries[dir] = &layerEntry{header: tar.Header{Typeflag: tar.TypeDir, Mode: 0o755}}
		}
	}
	e.header.Name = name
	e.header.ModTime = epoch
	b.entries[name] = e
}

// Dir adds a directory with the given permission bits (sticky bit as
// 0o1000) and owner.
func (b *layerBuilder) Dir(name string, mode int64, uid, gid int) {
	b.add(name, &layerEntry{header: tar.Header{Typeflag: tar.TypeDir, Mode: mode, Uid: uid, Gid: gid}})
}

// File adds a regular file owned by root with the given content.
func (b *layerBuilder) File(name string, mode int64, data []byte) {
	b.add(name, &layerEntry{
		header: tar.Header{Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(data))},
		data:   data,
	})
}

// Symlink adds a symbolic link owned by root.
func (b *layerBuilder) Symlink(name, target string) {
	b.add(name, &layerEntry{header: tar.Header{Typeflag: tar.TypeSymlink, Mode: 0o777, Linkname: target}})
}

// HostFile adds the host file src as name, owned by root, keeping its
// permission bits. Symbolic links are followed.
func (b *layerBuilder) HostFile(name, src string) error {
	info, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("adding %s: %w", src, err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("adding %s: not a regular file", src)
	}
	b.addHost(name, src, info)
	return nil
}

func (b *layerBuilder) addHost(name, src string, info fs.FileInfo) {
	b.add(name, &layerEntry{
		header:  tar.Header{Typeflag: tar.TypeReg, Mode: int64(info.Mode().Perm()), Size: info.Size()},
		src:     src,
		srcInfo: fmt.Sprintf("%d %d", info.Size(), info.ModTime().UnixNano()),
	})
}

// HostTree adds the host directory src and everything below it as dest,
// owned by root, keeping permission bits and relative symbolic links.
// Absolute links into src are rewritten to point into dest, and absolute
// links elsewhere are left out. Other file types (sockets, devices) are
// rejected.
func (b *layerBuilder) HostTree(dest, src string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		name := path.Join(dest, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		switch {
		case d.IsDir():
			b.Dir(name, int64(info.Mode().Perm()), 0, 0)
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("reading link %s: %w", p, err)
			}
			// An absolute link into src must point into dest in the image.
			// One out of src would dangle there, such as Debian's
			// zoneinfo/localtime -> /etc/localtime, so it is left out.
			if filepath.IsAbs(target) {
				rel, err := filepath.Rel(src, target)
				if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
					return nil
				}
				target = path.Join(dest, filepath.ToSlash(rel))
			}
			b.Symlink(name, target)
		case info.Mode().IsRegular():
			b.addHost(name, p, info)
		default:
			return fmt.Errorf("adding %s: unsupported file type %s", p, info.Mode().Type())
		}
		return nil
	})
}

func (b *layerBuilder) sortedNames() []string {
	names := make([]string, 0, len(b.entries))
	for name := range b.entries {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Fingerprint returns a hash of every entry's header and content source.
// Host files count by size and mtime, so a changed host tree changes the
// fingerprint without reading every file.
func (b *layerBuilder) Fingerprint() string {
	h := sha256.New()
	for _, name := range b.sortedNames() {
		e := b.entries[name]
		fmt.Fprintf(h, "%s\x00%c\x00%o\x00%d\x00%d\x00%s\x00%s\x00%s\x00", name, e.header.Typeflag,
			e.header.Mode, e.header.Uid, e.header.Gid, e.header.Linkname, e.src, e.srcInfo)
		h.Write(e.data)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// WriteTar writes the layer as an uncompressed tar stream.
func (b *layerBuilder) WriteTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	for _, name := range b.sortedNames() {
		e := b.entries[name]
		hdr := e.header
		if hdr.Typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(&hdr); err != nil {
			return fmt.Errorf("writing tar header %s: %w", name, err)
		}
		if err := e.writeContent(tw); err != nil {
			return err
		}
	}
	return tw.Close()
}

func (e *layerEntry) writeContent(w io.Writer) error {
	if e.header.Typeflag != tar.TypeReg {
		return nil
	}
	if e.src == "" {
		_, err := w.Write(e.data)
		return err
	}
	f, err := os.Open(e.src)
	if err != nil {
		return fmt.Errorf("opening %s: %w", e.src, err)
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err != nil {
		return fmt.Errorf("copying %s: %w", e.src, err)
	}
	if n != e.header.Size {
		return fmt.Errorf("copying %s: size changed from %d to %d bytes while building the layer", e.src, e.header.Size, n)
	}
	return nil
}

// Layer returns the gzip-compressed layer, cached as cacheDir/NAME-FP.tar.gz
// where FP starts the fingerprint, with the uncompressed digest (diff ID)
// next to it in NAME-FP.diffid. The compressed file, not the tar stream,
// fixes the digest, so reusing it keeps the digest stable even if a later
// Go release compressed differently. Older files of the same NAME are
// removed.
func (b *layerBuilder) Layer(cacheDir, name string) (v1.Layer, error) {
	fp := b.Fingerprint()[:20]
	base := filepath.Join(cacheDir, name+"-"+fp)
	file := base + ".tar.gz"
	diffIDFile := base + ".diffid"
	data, err := os.ReadFile(diffIDFile)
	if _, statErr := os.Stat(file); err != nil || statErr != nil {
		if err := b.writeCompressed(file, diffIDFile); err != nil {
			return nil, err
		}
		if data, err = os.ReadFile(diffIDFile); err != nil {
			return nil, fmt.Errorf("reading layer %s: %w", diffIDFile, err)
		}
	}
	diffID, err := v1.NewHash(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("reading layer %s: %w", diffIDFile, err)
	}

	old, _ := filepath.Glob(filepath.Join(cacheDir, name+"-*"))
	for _, o := range old {
		if o != file && o != diffIDFile {
			os.Remove(o)
		}
	}

	layer, err := tarball.LayerFromFile(file, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("reading layer %s: %w", file, err)
	}
	return cachedLayer{Layer: layer, diffID: diffID}, nil
}

// cachedLayer is a layer with the diff ID recorded when it was written,
// because computing the diff ID means decompressing the whole layer.
type cachedLayer struct {
	v1.Layer
	diffID v1.Hash
}

func (l cachedLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// writeCompressed writes the gzip-compressed layer to file and the sha256
// of the uncompressed tar stream to diffIDFile. Both appear atomically,
// the diff ID last, so a reader that finds diffIDFile finds file complete.
func (b *layerBuilder) writeCompressed(file, diffIDFile string) (err error) {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("creating the layer cache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".layer-*")
	if err != nil {
		return fmt.Errorf("creating the layer cache: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	zw, err := gzip.NewWriterLevel(tmp, gzip.BestSpeed)
	if err != nil {
		return err
	}
	sum := sha256.New()
	if err := b.WriteTar(io.MultiWriter(zw, sum)); err != nil {
		return fmt.Errorf("writing layer %s: %w", file, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("writing layer %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing layer %s: %w", file, err)
	}

	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing layer %s: %w", file, err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("writing layer %s: %w", file, err)
	}
	return writeFileAtomic(diffIDFile, "sha256:"+hex.EncodeToString(sum.Sum(nil))+"\n")
}

func writeFileAtomic(file, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".diffid-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	_, err = tmp.WriteString(content)
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}
