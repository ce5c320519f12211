package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v4"
)

// FuzzRewrite mutates the golden inputs and updates. Plain `go test` runs
// the seeds; `go test -fuzz FuzzRewrite ./pipeline/manifest` explores.
func FuzzRewrite(f *testing.F) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "*", "input"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range dirs {
		input, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(filepath.Dir(path), "args"))
		if err != nil {
			f.Fatal(err)
		}
		file, u, err := parseArgs(string(data))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(input, file, u.Image, u.Tag, u.Digest)
	}
	f.Fuzz(func(t *testing.T, input []byte, file, image, tag, digest string) {
		u := Update{Image: image, Tag: tag, Digest: digest}
		checkRewrite(t, file, input, u)
	})
}

// FuzzRewriteGenerated builds YAML from the fuzzer's bytes (documents,
// workloads, Helm values, kustomization entries, quoting, anchors,
// comments, blank lines, CRLF, a byte order mark) and checks the changes
// against the number of matching references it generated.
func FuzzRewriteGenerated(f *testing.F) {
	for i := range 32 {
		f.Add(bytes.Repeat([]byte{byte(i * 7), byte(i * 13), byte(i)}, i+1))
	}
	f.Add([]byte("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"))
	f.Add([]byte("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1"))
	f.Fuzz(func(t *testing.T, seed []byte) {
		g := &generator{seed: seed}
		input, file, want := g.file()
		u := Update{Image: generatedImage, Tag: "v2", Digest: digest2}
		_, changes := checkRewrite(t, file, input, u)
		if changes == nil && want > 0 {
			t.Fatalf("no changes, want %d\ninput:\n%s", want, input)
		}
		if len(changes) != want {
			t.Fatalf("%d changes, want %d\ninput:\n%s\nchanges:\n%s", len(changes), want, input, formatChanges(changes))
		}
	})
}

// checkRewrite runs Rewrite and checks the properties that hold for every
// input. An error comes with no output. On success, the output equals the
// input outside the reported ranges and is valid UTF-8 and YAML, and a
// second run changes nothing.
func checkRewrite(t *testing.T, file string, input []byte, u Update) ([]byte, []Change) {
	t.Helper()
	out, changes, err := Rewrite(file, input, u)
	if err != nil {
		if out != nil || changes != nil {
			t.Fatalf("output or changes beside error %v", err)
		}
		return nil, nil
	}

	last := 0
	for _, c := range changes {
		if c.Offset < last || c.Offset+len(c.Old) > len(input) || string(input[c.Offset:c.Offset+len(c.Old)]) != c.Old {
			t.Fatalf("change %+v does not match the input", c)
		}
		last = c.Offset + len(c.Old)
	}
	applied, err := Apply(input, changes)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(applied, out) {
		t.Fatalf("output differs from the input outside the changes\ninput:\n%s\noutput:\n%s", input, out)
	}
	if !utf8.Valid(out) {
		t.Fatalf("output is not UTF-8:\n%q", out)
	}
	if err := parseAll(out); err != nil {
		t.Fatalf("output is not valid YAML: %v\ninput:\n%s\noutput:\n%s", err, input, out)
	}

	again, more, err := Rewrite(file, out, u)
	if err != nil {
		t.Fatalf("second run: %v\noutput:\n%s", err, out)
	}
	if len(more) != 0 || !bytes.Equal(again, out) {
		t.Fatalf("second run changed the output:\n%s\nchanges:\n%s", out, formatChanges(more))
	}
	return out, changes
}

func parseAll(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// parseArgs reads a golden case's args file: key=value lines with the keys
// file (the name passed to Rewrite), image, tag and digest.
func parseArgs(data string) (string, Update, error) {
	file := "manifest.yaml"
	var u Update
	for _, line := range strings.Split(strings.TrimSpace(data), "\n") {
		key, value, _ := strings.Cut(line, "=")
		switch key {
		case "file":
			file = value
		case "image":
			u.Image = value
		case "tag":
			u.Tag = value
		case "digest":
			u.Digest = value
		default:
			return "", Update{}, fmt.Errorf("parse args: unknown key %q", key)
		}
	}
	return file, u, nil
}

const generatedImage = "registry.local:5000/team/app"

// generator writes YAML chosen by the bytes of seed. Each matching
// reference it writes differs from the target (tag v2 and digest2), so each
// one yields a known number of changes.
type generator struct {
	seed []byte
	pos  int
	b    strings.Builder
	eol  string
	want int
	// anchor is the last anchor written, "" before the first, for aliases
	// that refer to it.
	anchor string
}

// pick returns a number below n taken from the seed, 0 once it runs out.
func (g *generator) pick(n int) int {
	if g.pos >= len(g.seed) {
		return 0
	}
	v := int(g.seed[g.pos]) % n
	g.pos++
	return v
}

func (g *generator) line(indent int, text string) {
	g.b.WriteString(strings.Repeat(" ", indent) + text + g.eol)
}

func (g *generator) file() ([]byte, string, int) {
	g.eol = []string{"\n", "\r\n"}[g.pick(2)]
	if g.pick(4) == 0 {
		g.b.WriteString("\ufeff")
	}
	if g.pick(2) == 0 {
		g.line(0, "# leading comment — ünïcödé\t☕")
	}
	file := "manifest.yaml"
	docs := 1 + g.pick(4)
	for i := range docs {
		if i > 0 || g.pick(2) == 0 {
			g.line(0, "---")
		}
		g.anchor = "" // an alias refers only to an anchor in its own document
		switch g.pick(5) {
		case 0, 1:
			g.workload()
		case 2:
			g.values()
		case 3:
			g.kustomization()
		default:
			g.line(0, "plain: config")
			g.line(0, "script: |")
			g.line(2, "image: "+generatedImage+":v1")
		}
		if g.pick(3) == 0 {
			g.line(0, "...")
		}
	}
	return []byte(g.b.String()), file, g.want
}

// reference returns a reference to write, counting it when it matches.
func (g *generator) reference() string {
	forms := []string{
		generatedImage + ":v1",
		generatedImage,
		generatedImage + "@" + digest1,
		generatedImage + ":v1@" + digest1,
		generatedImage + ":v2",
		generatedImage + "@" + digest2,
		"registry.local:5000/team/other:v1",
		"nginx:1.25",
	}
	i := g.pick(len(forms))
	if i < 6 {
		g.want++
	}
	return forms[i]
}

// scalar writes value in a quoting style, with an anchor at times.
func (g *generator) scalar(value string) string {
	var s string
	switch g.pick(3) {
	case 0:
		s = value
	case 1:
		s = `"` + value + `"`
	default:
		s = "'" + value + "'"
	}
	if g.pick(5) == 0 {
		g.anchor = fmt.Sprintf("a%d", g.pos)
		s = "&" + g.anchor + " " + s
	}
	return s
}

func (g *generator) comment() string {
	return []string{"", " # note", " #\ttab", " # ünïcödé ☕", ""}[g.pick(5)]
}

func (g *generator) workload() {
	g.line(0, "apiVersion: apps/v1")
	g.line(0, "kind: Deployment")
	g.line(0, "metadata:")
	g.line(2, "name: web")
	g.line(0, "spec:")
	g.line(2, "template:")
	g.line(4, "spec:")
	lists := []string{"containers", "initContainers", "ephemeralContainers"}
	for range 1 + g.pick(3) {
		g.line(6, lists[g.pick(len(lists))]+":")
		for i := range 1 + g.pick(3) {
			if g.pick(3) == 0 {
				g.line(8, fmt.Sprintf("- {name: c%d, image: %s}%s", i, g.scalar(g.reference()), g.comment()))
				continue
			}
			g.line(8, fmt.Sprintf("- name: c%d", i))
			for range g.pick(3) {
				g.line(0, "")
			}
			if g.pick(2) == 0 {
				g.line(10, "# the comment before")
			}
			g.line(10, "image: "+g.scalar(g.reference())+g.comment())
			if g.anchor != "" && g.pick(3) == 0 {
				// The alias shares the anchored scalar, which changes once.
				g.line(8, fmt.Sprintf("- {name: alias%d, image: *%s}", i, g.anchor))
			}
		}
	}
}

func (g *generator) values() {
	for i := range 1 + g.pick(3) {
		g.line(0, fmt.Sprintf("component%d:", i))
		if g.pick(3) == 0 {
			g.line(2, "image: "+g.scalar(g.reference()))
			continue
		}
		if g.pick(4) == 0 {
			registry := "elsewhere.local"
			if g.pick(2) == 0 {
				registry = "registry.local:5000"
				g.want += 2 // the tag and the digest
			}
			tag := []string{"", `, tag: ""`, ", tag: v1", ", tag:"}[g.pick(4)]
			g.line(2, fmt.Sprintf("image: {registry: %s, repository: team/app%s}%s", registry, tag, g.comment()))
			continue
		}
		g.line(2, "image:")
		matches := g.pick(2) == 0
		if matches {
			g.line(4, "registry: registry.local:5000")
			g.want += 2 // the tag and the digest
		} else {
			g.line(4, "registry: elsewhere.local")
		}
		g.line(4, "repository: "+g.scalar("team/app")+g.comment())
		switch g.pick(4) {
		case 0:
			g.line(4, `tag: ""`)
		case 1:
			g.line(4, "tag: v1")
		case 2:
			g.line(4, "tag:")
		}
		switch g.pick(3) {
		case 0:
			g.line(4, `digest: ""`)
		case 1:
			g.line(4, "digest: "+digest1)
		}
		g.line(4, "pullPolicy: IfNotPresent")
	}
}

func (g *generator) kustomization() {
	g.line(0, "apiVersion: kustomize.config.k8s.io/v1beta1")
	g.line(0, []string{"kind: Kustomization", "kind: Component"}[g.pick(2)])
	g.line(0, "images:")
	for i := range 1 + g.pick(3) {
		name := "registry.local:5000/team/other"
		if g.pick(2) == 0 {
			name = generatedImage
			g.want += 2 // newTag and digest
		}
		if g.pick(3) == 0 {
			g.line(2, fmt.Sprintf("- {name: e%d, newName: %s, newTag: v1}", i, name))
			continue
		}
		g.line(2, fmt.Sprintf("- name: e%d", i))
		g.line(4, "newName: "+g.scalar(name)+g.comment())
		if g.pick(2) == 0 {
			g.line(4, "newTag: v1")
		}
		if g.pick(2) == 0 {
			g.line(4, "digest: "+digest1)
		}
	}
}
