// Package manifest rewrites container image references in YAML files
// (Kubernetes objects, kustomization files, Helm values) by splicing new
// bytes over the old value only. It never re-serializes a document, so
// comments, blank lines, indentation, key order, quoting, line endings and
// document separators stay exactly as they were.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// MaxSize is the largest input Rewrite accepts, in bytes. It bounds memory:
// BenchmarkRewrite allocates about 40 bytes per input byte, most of it for
// the parsed node tree. Manifest files are far smaller in practice.
const MaxSize = 8 << 20

var (
	// ErrNoMatch is returned when a file contains no reference to the image.
	ErrNoMatch = errors.New("no reference to the image")
	// ErrInvalidUpdate is returned when the Update itself is invalid.
	ErrInvalidUpdate = errors.New("invalid update")
	// ErrTooLarge is returned for inputs over MaxSize.
	ErrTooLarge = errors.New("file exceeds the size limit")
	// ErrNotText is returned for binary or non-UTF-8 input.
	ErrNotText = errors.New("file is not UTF-8 text")
)

// Update names the image repository to match and the new tag and/or digest.
type Update struct {
	// Image is the repository to match, without tag or digest, for example
	// "gitea-http.gitea.svc.cluster.local:3000/acme/app" or "nginx". Docker
	// Hub names match in every spelling: "nginx", "library/nginx" and
	// "docker.io/library/nginx" name the same repository.
	Image string
	// Tag is the new tag. Empty keeps the current tag.
	Tag string
	// Digest is the new digest, such as "sha256:" and 64 hex digits. Empty keeps the
	// current digest while the tag stays the same, and removes it when the
	// tag changes, because a digest left beside a new tag still pins the
	// old image.
	Digest string
}

// Change records one rewritten reference or field.
//
// Old and New are the exact bytes replaced at Offset, so applying every
// Change to the input yields the output (see Apply). For a reference, Old is
// the reference as written, without quotes. For a Helm values or
// kustomization field, Old is that field's value. When a field is missing,
// Rewrite inserts it: Old is then empty and New holds the whole inserted
// text, line break included.
type Change struct {
	File     string
	Document int    // 0-based index of the YAML document in the file
	Kind     string // object kind, "" for non-Kubernetes documents (Helm values)
	Name     string // metadata.name
	// Path is the YAML path, e.g. spec.template.spec.containers[1].image.
	// An anchored value reached through an alias has the alias's path.
	Path     string
	Line     int    // 1-based line of Offset in the input
	Old, New string // old and new bytes as written in the file
	Offset   int    // byte offset of Old in the input
}

// SyntaxError reports invalid YAML with the position of the problem.
type SyntaxError struct {
	File    string
	Line    int // 1-based
	Column  int // 1-based, counted in characters
	Message string
	Err     error // the parser's error
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("parse %s: line %d, column %d: %s", e.File, e.Line, e.Column, e.Message)
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// Rewrite returns data with every reference to u.Image changed, and the changes.
// A matching reference already at the target yields no Change and no error.
// No matching reference at all returns ErrNoMatch.
//
// It rewrites three shapes. The first is the value of every "image" key
// that holds a reference, which covers containers, initContainers and
// ephemeralContainers in any Kubernetes kind. The second is a Helm values
// image block: a mapping with "repository" and optional "registry", "tag"
// and "digest" keys. The third is an "images" entry of a kustomization
// (kind Kustomization or Component, or a file named kustomization.yaml).
// On error it returns no data.
func Rewrite(file string, data []byte, u Update) ([]byte, []Change, error) {
	target, err := parseUpdate(u)
	if err != nil {
		return nil, nil, err
	}
	if err := checkText(file, data); err != nil {
		return nil, nil, err
	}
	changes, matched, err := findChanges(file, data, target)
	if err != nil {
		return nil, nil, err
	}
	if !matched {
		return nil, nil, fmt.Errorf("find image %s in %s: %w", u.Image, file, ErrNoMatch)
	}
	out, err := Apply(data, changes)
	if err != nil {
		return nil, nil, err
	}
	return out, changes, nil
}

// Apply returns data with every Change spliced in. Changes must be sorted by
// Offset, must not overlap, and each Old must match data at its Offset.
func Apply(data []byte, changes []Change) ([]byte, error) {
	size := len(data)
	for _, c := range changes {
		size += len(c.New) - len(c.Old)
	}
	out := make([]byte, 0, size)
	last := 0
	for _, c := range changes {
		end := c.Offset + len(c.Old)
		if c.Offset < last || end > len(data) {
			return nil, fmt.Errorf("apply change at offset %d: out of order or out of range", c.Offset)
		}
		if string(data[c.Offset:end]) != c.Old {
			return nil, fmt.Errorf("apply change at offset %d: found %q, expected %q", c.Offset, data[c.Offset:end], c.Old)
		}
		out = append(out, data[last:c.Offset]...)
		out = append(out, c.New...)
		last = end
	}
	return append(out, data[last:]...), nil
}

// checkText rejects inputs over MaxSize and inputs that are not UTF-8 text.
func checkText(file string, data []byte) error {
	if len(data) > MaxSize {
		return fmt.Errorf("check %s: %d bytes, limit %d: %w", file, len(data), MaxSize, ErrTooLarge)
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return fmt.Errorf("check %s: NUL byte at offset %d: %w", file, i, ErrNotText)
	}
	if !utf8.Valid(data) {
		i := firstInvalidUTF8(data)
		return fmt.Errorf("check %s: invalid UTF-8 at offset %d: %w", file, i, ErrNotText)
	}
	return nil
}

func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}

// sortChanges orders changes by Offset. The sort is stable so that two
// insertions at one offset keep the order in which they were made.
func sortChanges(changes []Change) {
	slices.SortStableFunc(changes, func(a, b Change) int { return a.Offset - b.Offset })
}
