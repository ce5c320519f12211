package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// layerEntry is one file, folder or symbolic link of a layer.
type layerEntry struct {
	typeflag byte
	mode     int64
	hostPath string // file content to copy, for regular files
	data     []byte // file content, when hostPath is empty
	target   string // link target, for symbolic links
}

// layerBuilder collects the entries of one image layer by their absolute
// path in the image. Parent folders are added as needed, and every entry
// gets owner root and a fixed mtime so that equal inputs give equal
// layers.
type layerBuilder struct {
	entries map[string]layerEntry
}

func newLayerBuilder() *layerBuilder {
	return &layerBuilder{entries: map[string]layerEntry{}}
}

func (b *layerBuilder) add(name string, e layerEntry) {
	name = path.Clean("/" + name)
	for dir := path.Dir(name); dir != "/"; dir = path.Dir(dir) {
		if _, ok := b.entries[dir]; !ok {
			b.entries[dir] = layerEntry{typeflag: tar.TypeDir, mode: 0o755}
		}
	}
	b.entries[name] = e
}

// Dir adds a folder with the permission bits mode.
func (b *layerBuilder) Dir(name string, mode int64) {
	b.add(name, layerEntry{typeflag: tar.TypeDir, mode: mode})
}

// Symlink adds a symbolic link to target.
func (b *layerBuilder) Symlink(name, target string) {
	b.add(name, layerEntry{typeflag: tar.TypeSymlink, mode: 0o777, target: target})
}

// File adds a regular file with the content data.
func (b *layerBuilder) File(name string, mode int64, data []byte) {
	b.add(name, layerEntry{typeflag: tar.TypeReg, mode: mode, data: data})
}

// HostFile adds the host file src, keeping its permission bits.
func (b *layerBuilder) HostFile(name, src string) error {
	info, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("add %s to the layer: %w", src, err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("add %s to the layer: not a regular file", src)
	}
	b.add(name, layerEntry{typeflag: tar.TypeReg, mode: int64(info.Mode().Perm()), hostPath: src})
	return nil
}

// HostTree adds the host folder src and everything below it as dest,
// except the paths below src for which skip returns true.
func (b *layerBuilder) HostTree(dest, src string, skip func(rel string) bool) error {
	return filepath.WalkDir(src, func(file string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("add %s to the layer: %w", file, err)
		}
		rel, err := filepath.Rel(src, file)
		if err != nil {
			return err
		}
		if skip != nil && rel != "." && skip(filepath.ToSlash(rel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		name := path.Join(dest, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("add %s to the layer: %w", file, err)
		}
		switch {
		case d.IsDir():
			b.add(name, layerEntry{typeflag: tar.TypeDir, mode: int64(info.Mode().Perm())})
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(file)
			if err != nil {
				return fmt.Errorf("add %s to the layer: %w", file, err)
			}
			b.Symlink(name, target)
		case info.Mode().IsRegular():
			b.add(name, layerEntry{typeflag: tar.TypeReg, mode: int64(info.Mode().Perm()), hostPath: file})
		}
		return nil
	})
}

// layerTime is every entry's mtime, so that layers are reproducible.
var layerTime = time.Unix(0, 0).UTC()

// WriteTar writes the layer as a tar stream, parents before children.
func (b *layerBuilder) WriteTar(w io.Writer) error {
	names := make([]string, 0, len(b.entries))
	for name := range b.entries {
		names = append(names, name)
	}
	sort.Strings(names)

	tw := tar.NewWriter(w)
	for _, name := range names {
		if err := b.writeEntry(tw, name, b.entries[name]); err != nil {
			return err
		}
	}
	return tw.Close()
}

func (b *layerBuilder) writeEntry(tw *tar.Writer, name string, e layerEntry) error {
	header := &tar.Header{
		Typeflag: e.typeflag,
		Name:     strings.TrimPrefix(name, "/"),
		Mode:     e.mode,
		ModTime:  layerTime,
		Linkname: e.target,
		Format:   tar.FormatPAX,
	}
	if e.typeflag == tar.TypeDir {
		header.Name += "/"
	}
	if e.typeflag != tar.TypeReg {
		return tw.WriteHeader(header)
	}

	content := io.Reader(bytes.NewReader(e.data))
	header.Size = int64(len(e.data))
	if e.hostPath != "" {
		file, err := os.Open(e.hostPath)
		if err != nil {
			return fmt.Errorf("write %s to the layer: %w", e.hostPath, err)
		}
		defer file.Close()
		info, err := file.Stat()
		if err != nil {
			return fmt.Errorf("write %s to the layer: %w", e.hostPath, err)
		}
		header.Size = info.Size()
		content = file
	}
	if err := tw.WriteHeader(header); err != nil {
		return fmt.Errorf("write %s to the layer: %w", name, err)
	}
	if _, err := io.CopyN(tw, content, header.Size); err != nil {
		return fmt.Errorf("write %s to the layer: %w", name, err)
	}
	return nil
}

// Layer writes the layer, gzip-compressed, to file and returns it.
func (b *layerBuilder) Layer(file string) (v1.Layer, error) {
	if err := b.writeCompressed(file); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromFile(file, tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("read layer %s: %w", file, err)
	}
	return layer, nil
}

func (b *layerBuilder) writeCompressed(file string) (err error) {
	out, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("create layer %s: %w", file, err)
	}
	defer func() {
		if closeErr := out.Close(); err == nil && closeErr != nil {
			err = fmt.Errorf("write layer %s: %w", file, closeErr)
		}
	}()
	zw, err := gzip.NewWriterLevel(out, gzip.BestSpeed)
	if err != nil {
		return err
	}
	if err := b.WriteTar(zw); err != nil {
		return fmt.Errorf("write layer %s: %w", file, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write layer %s: %w", file, err)
	}
	return nil
}
