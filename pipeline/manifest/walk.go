package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"go.yaml.in/yaml/v4"
)

// walker visits every document of one file and collects the changes.
type walker struct {
	file   string
	src    *source
	target target

	doc           int
	kind, name    string // enclosing Kubernetes object
	kustomization bool   // the document is a kustomization file
	path          []pathElement

	changes []Change
	matched bool
	// done holds the nodes already rewritten, so that a node reached again
	// through an alias is written once.
	done map[*yaml.Node]bool
}

type pathElement struct {
	key   string
	index int // used when key is ""
}

func findChanges(file string, data []byte, t target) ([]Change, bool, error) {
	w := &walker{file: file, src: newSource(data), target: t, done: map[*yaml.Node]bool{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for doc := 0; ; doc++ {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, false, syntaxError(file, err)
		}
		if err := w.document(doc, &root); err != nil {
			return nil, false, err
		}
	}
	sortChanges(w.changes)
	return w.changes, w.matched, nil
}

func syntaxError(file string, err error) error {
	var loadErr *yaml.LoadError
	if !errors.As(err, &loadErr) {
		return fmt.Errorf("parse %s: %w", file, err)
	}
	mark := loadErr.Mark
	if mark.Line == 0 {
		mark = loadErr.ContextMark
	}
	return &SyntaxError{File: file, Line: mark.Line, Column: mark.Column, Message: loadErr.Message, Err: err}
}

func (w *walker) document(doc int, root *yaml.Node) error {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil
	}
	top := root.Content[0]
	w.doc, w.kind, w.name, w.path = doc, "", "", w.path[:0]
	w.kustomization = isKustomization(w.file, top)
	return w.walk(top)
}

// isKustomization reports whether top is a kustomization: kind
// Kustomization or Component, or no kind in a file with a name kustomize
// reads by default.
func isKustomization(file string, top *yaml.Node) bool {
	if top.Kind != yaml.MappingNode {
		return false
	}
	if _, kind := field(top, "kind"); kind != nil {
		return kind.Value == "Kustomization" || kind.Value == "Component"
	}
	switch filepath.Base(file) {
	case "kustomization.yaml", "kustomization.yml", "Kustomization":
		return true
	}
	return false
}

func (w *walker) walk(n *yaml.Node) error {
	switch n.Kind {
	case yaml.MappingNode:
		return w.mapping(n)
	case yaml.SequenceNode:
		for i, item := range n.Content {
			w.path = append(w.path, pathElement{index: i})
			err := w.walk(item)
			w.path = w.path[:len(w.path)-1]
			if err != nil {
				return err
			}
		}
	}
	// Aliases are not followed: the anchored node is visited where it is
	// defined, or through an image key that refers to it.
	return nil
}

func (w *walker) mapping(m *yaml.Node) error {
	if kind, name, ok := objectIdentity(m); ok {
		outerKind, outerName := w.kind, w.name
		w.kind, w.name = kind, name
		defer func() { w.kind, w.name = outerKind, outerName }()
	}
	if w.isValuesBlock(m) {
		if err := w.valuesBlock(m); err != nil {
			return err
		}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, value := m.Content[i], m.Content[i+1]
		w.path = append(w.path, pathElement{key: key.Value})
		err := w.entry(key, value)
		if err == nil {
			err = w.walk(value)
		}
		w.path = w.path[:len(w.path)-1]
		if err != nil {
			return err
		}
	}
	return nil
}

// entry handles the keys that hold references: "image" anywhere and
// "images" at the top of a kustomization.
func (w *walker) entry(key, value *yaml.Node) error {
	if key.Kind != yaml.ScalarNode {
		return nil
	}
	switch {
	case key.Value == "image":
		n := resolve(value)
		switch {
		case n.Kind == yaml.ScalarNode:
			return w.reference(n)
		case n.Kind == yaml.MappingNode && value.Kind == yaml.AliasNode && w.isValuesBlock(n):
			return w.valuesBlock(n)
		}
	case key.Value == "images" && w.kustomization && len(w.path) == 1:
		if value.Kind != yaml.SequenceNode {
			return nil
		}
		for i, item := range value.Content {
			if item.Kind != yaml.MappingNode {
				continue
			}
			w.path = append(w.path, pathElement{index: i})
			err := w.kustomizeImage(item)
			w.path = w.path[:len(w.path)-1]
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// objectIdentity returns the kind and metadata.name of a mapping that is a
// Kubernetes object, one with apiVersion and kind.
func objectIdentity(m *yaml.Node) (string, string, bool) {
	_, apiVersion := field(m, "apiVersion")
	_, kind := field(m, "kind")
	if apiVersion == nil || kind == nil || apiVersion.Kind != yaml.ScalarNode || kind.Kind != yaml.ScalarNode {
		return "", "", false
	}
	var objectName string
	if _, metadata := field(m, "metadata"); metadata != nil {
		if _, n := field(resolve(metadata), "name"); n != nil && n.Kind == yaml.ScalarNode {
			objectName = n.Value
		}
	}
	return kind.Value, objectName, true
}

// reference rewrites a scalar that holds a whole image reference.
func (w *walker) reference(n *yaml.Node) error {
	ref, key, err := parseReference(n.Value)
	if err != nil {
		return w.checkCase(n, n.Value)
	}
	if key != w.target.image {
		return nil
	}
	w.matched = true
	tag, digest := w.target.apply(ref.tag, ref.digest)
	updated := reference{repository: ref.repository, tag: tag, digest: digest}.String()
	if updated == n.Value {
		return nil
	}
	return w.setScalar(n, "", updated)
}

// checkCase returns an error when an invalid reference would match the
// image if it were lowercase, so that a misspelt reference is reported
// rather than skipped. n is the node the reference was read from.
func (w *walker) checkCase(n *yaml.Node, reference string) error {
	lower := strings.ToLower(reference)
	if lower == reference {
		return nil
	}
	if _, key, err := parseReference(lower); err != nil || key != w.target.image {
		return nil
	}
	return fmt.Errorf("check %s: image reference %q at line %d, column %d: repository names must be lowercase",
		w.file, reference, n.Line, n.Column)
}

// matchRepository reports whether image, a repository read from node n,
// names the target repository.
func (w *walker) matchRepository(n *yaml.Node, image string) (bool, error) {
	repo, err := name.NewRepository(image)
	if err != nil {
		return false, w.checkCase(n, image)
	}
	return repositoryKey(repo) == w.target.image, nil
}

// isValuesBlock reports whether m is a Helm values image block: a mapping
// with a "repository" key, under an "image" key or beside a "tag" or
// "digest" key.
func (w *walker) isValuesBlock(m *yaml.Node) bool {
	if _, repo := field(m, "repository"); repo == nil || resolve(repo).Kind != yaml.ScalarNode {
		return false
	}
	if len(w.path) > 0 && w.path[len(w.path)-1].key == "image" {
		return true
	}
	tagKey, _ := field(m, "tag")
	digestKey, _ := field(m, "digest")
	return tagKey != nil || digestKey != nil
}

// valuesBlock rewrites a Helm values image block. The repository is the
// "registry" value, when set, joined with the "repository" value by "/".
func (w *walker) valuesBlock(m *yaml.Node) error {
	if w.done[m] {
		return nil
	}
	repoKey, repo := field(m, "repository")
	image := resolve(repo).Value
	if _, registry := field(m, "registry"); registry != nil && resolve(registry).Value != "" {
		image = resolve(registry).Value + "/" + image
	}
	if ok, err := w.matchRepository(repo, image); !ok || err != nil {
		return err
	}
	w.matched = true
	w.done[m] = true
	return w.updateFields(m, fieldNames{tag: "tag", digest: "digest"}, repoKey, repo)
}

// kustomizeImage rewrites one kustomization images entry. The entry matches
// on the image it produces: newName when set, name otherwise.
func (w *walker) kustomizeImage(m *yaml.Node) error {
	anchorKey, anchor := field(m, "name")
	if anchor == nil || resolve(anchor).Kind != yaml.ScalarNode {
		return nil
	}
	image := resolve(anchor).Value
	if key, newName := field(m, "newName"); newName != nil && resolve(newName).Value != "" {
		anchorKey, anchor, image = key, newName, resolve(newName).Value
	}
	if ok, err := w.matchRepository(anchor, image); !ok || err != nil {
		return err
	}
	w.matched = true
	if w.done[m] {
		return nil
	}
	w.done[m] = true
	return w.updateFields(m, fieldNames{tag: "newTag", digest: "digest"}, anchorKey, anchor)
}

type fieldNames struct{ tag, digest string }

// updateFields sets the tag and digest fields of mapping m. A missing field
// is inserted after the value of anchorKey (the repository or name), and
// the digest after the tag. A digest to remove is set to "": kustomize's
// image transformer (api/filters/imagetag) treats an empty digest as unset,
// and so does a chart template that tests "if .Values.image.digest".
func (w *walker) updateFields(m *yaml.Node, names fieldNames, anchorKey, anchor *yaml.Node) error {
	tagKey, tagNode := field(m, names.tag)
	_, digestNode := field(m, names.digest)
	tag, err := fieldValue(tagNode, names.tag)
	if err != nil {
		return w.fieldError(err)
	}
	digest, err := fieldValue(digestNode, names.digest)
	if err != nil {
		return w.fieldError(err)
	}

	newTag, newDigest := w.target.apply(tag, digest)
	if newTag != tag {
		if tagNode != nil {
			err = w.setScalar(resolve(tagNode), names.tag, newTag)
		} else {
			err = w.insertField(m, anchorKey, anchor, names.tag, newTag)
		}
		if err != nil {
			return err
		}
	}

	if newDigest == digest {
		return nil
	}
	if digestNode != nil {
		return w.setScalar(resolve(digestNode), names.digest, newDigest)
	}
	if tagNode != nil {
		anchorKey, anchor = tagKey, tagNode
	}
	return w.insertField(m, anchorKey, anchor, names.digest, newDigest)
}

func (w *walker) fieldError(err error) error {
	return fmt.Errorf("check %s: document %d, %s: %w", w.file, w.doc, w.pathString(""), err)
}

// fieldValue returns the string value of a tag or digest field, "" for a
// missing or null field.
func fieldValue(n *yaml.Node, key string) (string, error) {
	if n == nil {
		return "", nil
	}
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("field %s at line %d is not a scalar", key, n.Line)
	}
	if n.Tag == "!!null" {
		return "", nil
	}
	return n.Value, nil
}

// setScalar replaces the text of scalar n with value. key is appended to
// the path in the Change ("" for the current path).
func (w *walker) setScalar(n *yaml.Node, key, value string) error {
	if w.done[n] {
		return nil
	}
	w.done[n] = true
	start, end, err := w.src.span(n)
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", w.file, err)
	}
	text := value
	switch {
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		if value == "" {
			return fmt.Errorf("rewrite %s: clear block scalar at line %d: not supported", w.file, n.Line)
		}
	default:
		text = plainText(value)
		if start == end && start > 0 && w.src.data[start-1] != ' ' && w.src.data[start-1] != '\t' {
			text = " " + text // a key with no value: "tag:" becomes "tag: v2"
		}
	}
	w.add(key, start, string(w.src.data[start:end]), text)
	return nil
}

// insertField adds "key: value" to mapping m after the value of anchorKey:
// in a flow mapping right after that value, in a block mapping on a new
// line below it with the same indentation as anchorKey.
func (w *walker) insertField(m, anchorKey, anchor *yaml.Node, key, value string) error {
	end, err := w.src.end(anchor)
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", w.file, err)
	}
	pair := key + ": " + plainText(value)
	if m.Style&yaml.FlowStyle != 0 {
		if anchorKey.Style&yaml.DoubleQuotedStyle != 0 {
			pair = `"` + key + `": "` + value + `"` // keep JSON input JSON
		}
		w.add(key, end, "", ", "+pair)
		return nil
	}
	indent := strings.Repeat(" ", anchorKey.Column-1)
	pos, brk := w.src.lineBreakAfter(end)
	if brk == "" {
		w.add(key, pos, "", w.src.firstLineBreak()+indent+pair)
		return nil
	}
	w.add(key, pos+len(brk), "", indent+pair+brk)
	return nil
}

func (w *walker) add(key string, offset int, old, new string) {
	w.changes = append(w.changes, Change{
		File:     w.file,
		Document: w.doc,
		Kind:     w.kind,
		Name:     w.name,
		Path:     w.pathString(key),
		Line:     w.src.line(offset),
		Old:      old,
		New:      new,
		Offset:   offset,
	})
}

// pathString formats the current path, with key appended when not empty,
// as dotted keys and [index] for sequence items. Keys that are not plain
// words are quoted: metadata.annotations["example.com/image"].
func (w *walker) pathString(key string) string {
	var b strings.Builder
	elements := w.path
	if key != "" {
		elements = append(elements[:len(elements):len(elements)], pathElement{key: key})
	}
	for _, e := range elements {
		switch {
		case e.key == "":
			fmt.Fprintf(&b, "[%d]", e.index)
		case isWord(e.key):
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(e.key)
		default:
			b.WriteString("[" + strconv.Quote(e.key) + "]")
		}
	}
	return b.String()
}

func isWord(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// field returns the key and value nodes of key in mapping m, or nils.
func field(m *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return k, m.Content[i+1]
		}
	}
	return nil, nil
}

// resolve follows aliases to the anchored node.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}
