package manifest

import (
	"bytes"
	"errors"
	"testing"

	"gotest.tools/v3/assert"
)

const (
	digest1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	digest2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func TestRewriteSizeLimit(t *testing.T) {
	data := append([]byte("image: app:v1\n#"), bytes.Repeat([]byte("x"), MaxSize)...)
	out, changes, err := Rewrite("big.yaml", data, Update{Image: "app", Tag: "v2"})
	assert.Assert(t, errors.Is(err, ErrTooLarge), "got %v", err)
	assert.Assert(t, out == nil)
	assert.Assert(t, changes == nil)
}

func TestRewriteAtSizeLimit(t *testing.T) {
	head := []byte("image: app:v1\n#")
	data := append(head, bytes.Repeat([]byte("x"), MaxSize-len(head))...)
	_, changes, err := Rewrite("big.yaml", data, Update{Image: "app", Tag: "v2"})
	assert.NilError(t, err)
	assert.Equal(t, len(changes), 1)
}

func TestRewriteNotText(t *testing.T) {
	for name, data := range map[string][]byte{
		"nul":     []byte("image: app:v1\x00\n"),
		"latin-1": []byte("# caf\xe9\nimage: app:v1\n"),
		"utf-16":  {0xff, 0xfe, 'i', 0, 'm', 0},
	} {
		t.Run(name, func(t *testing.T) {
			out, _, err := Rewrite("x.yaml", data, Update{Image: "app", Tag: "v2"})
			assert.Assert(t, errors.Is(err, ErrNotText), "got %v", err)
			assert.Assert(t, out == nil)
		})
	}
}

func TestRewriteNoMatch(t *testing.T) {
	for name, data := range map[string]string{
		"other image":      "image: nginx:1\n",
		"empty file":       "",
		"comments only":    "# image: app:v1\n",
		"block scalar":     "script: |\n  image: app:v1\n",
		"not an image key": "images: app:v1\nimage_name: app:v1\n",
	} {
		t.Run(name, func(t *testing.T) {
			out, changes, err := Rewrite("x.yaml", []byte(data), Update{Image: "app", Tag: "v2"})
			assert.Assert(t, errors.Is(err, ErrNoMatch), "got %v", err)
			assert.Assert(t, out == nil)
			assert.Assert(t, changes == nil)
		})
	}
}

func TestRewriteSyntaxErrorPosition(t *testing.T) {
	data := []byte("a: 1\nb:\n  - c\n  d: 2\n")
	out, _, err := Rewrite("bad.yaml", data, Update{Image: "app", Tag: "v2"})
	var syntaxErr *SyntaxError
	assert.Assert(t, errors.As(err, &syntaxErr), "got %v", err)
	assert.Equal(t, syntaxErr.File, "bad.yaml")
	assert.Equal(t, syntaxErr.Line, 4)
	assert.Equal(t, syntaxErr.Column, 3)
	assert.Assert(t, out == nil)
}

func TestRewriteInvalidUpdate(t *testing.T) {
	for name, u := range map[string]Update{
		"empty image":       {Tag: "v2"},
		"uppercase image":   {Image: "Acme/App", Tag: "v2"},
		"image with tag":    {Image: "app:v1", Tag: "v2"},
		"image with digest": {Image: "app@" + digest1, Tag: "v2"},
		"no tag or digest":  {Image: "app"},
		"invalid tag":       {Image: "app", Tag: "v 2"},
		"tag too long":      {Image: "app", Tag: string(bytes.Repeat([]byte("v"), 129))},
		"short digest":      {Image: "app", Digest: "sha256:1234"},
		"digest no algo":    {Image: "app", Digest: "1111111111111111111111111111111111111111111111111111111111111111"},
		"invalid registry":  {Image: "host:port/app", Tag: "v2"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := Rewrite("x.yaml", []byte("image: app:v1\n"), u)
			assert.Assert(t, errors.Is(err, ErrInvalidUpdate), "got %v", err)
		})
	}
}

// TestRewriteDigestRules checks how Tag and Digest combine with the tag and
// digest already in a reference.
func TestRewriteDigestRules(t *testing.T) {
	for _, tc := range []struct {
		name, old string
		update    Update
		want      string
	}{
		{"new tag drops digest", "app:v1@" + digest1, Update{Tag: "v2"}, "app:v2"},
		{"same tag keeps digest", "app:v2@" + digest1, Update{Tag: "v2"}, "app:v2@" + digest1},
		{"digest keeps tag", "app:v1@" + digest1, Update{Digest: digest2}, "app:v1@" + digest2},
		{"digest added to tag", "app:v1", Update{Digest: digest2}, "app:v1@" + digest2},
		{"digest on bare name", "app", Update{Digest: digest2}, "app@" + digest2},
		{"tag and digest", "app@" + digest1, Update{Tag: "v2", Digest: digest2}, "app:v2@" + digest2},
		{"tag on bare name", "app", Update{Tag: "v2"}, "app:v2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.update
			u.Image = "app"
			out, _, err := Rewrite("x.yaml", []byte("image: "+tc.old+"\n"), u)
			assert.NilError(t, err)
			assert.Equal(t, string(out), "image: "+tc.want+"\n")
		})
	}
}

func TestApplyRejectsMismatch(t *testing.T) {
	data := []byte("image: app:v1\n")
	_, err := Apply(data, []Change{{Offset: 7, Old: "app:v9", New: "app:v2"}})
	assert.ErrorContains(t, err, "expected")
	_, err = Apply(data, []Change{{Offset: 9, Old: "p:v1", New: "x"}, {Offset: 7, Old: "ap", New: "y"}})
	assert.ErrorContains(t, err, "out of order")
	_, err = Apply(data, []Change{{Offset: 12, Old: "v1\nmore", New: "x"}})
	assert.ErrorContains(t, err, "out of range")
}

func TestRewriteEmptyValueForms(t *testing.T) {
	for _, tc := range []struct{ input, want string }{
		{"image: {repository: app, tag:}\n", "image: {repository: app, tag: v2}\n"},
		{"image: {repository: app, tag: }\n", "image: {repository: app, tag: v2}\n"},
		{"image:\n  repository: app\n  tag:   # default\n", "image:\n  repository: app\n  tag: v2   # default\n"},
		{"image:\n  repository: app\n  tag:\n  pullPolicy: Always\n", "image:\n  repository: app\n  tag: v2\n  pullPolicy: Always\n"},
	} {
		out, _, err := Rewrite("values.yaml", []byte(tc.input), Update{Image: "app", Tag: "v2"})
		assert.NilError(t, err, tc.input)
		assert.Equal(t, string(out), tc.want)
	}
}

// TestRewriteUnsupportedForms lists forms that Rewrite rejects with an
// error, rather than guess where the new text goes.
func TestRewriteUnsupportedForms(t *testing.T) {
	for name, input := range map[string]string{
		"flow key without colon": "image: {repository: app, tag}\n",
		"explicit key no value":  "image:\n  repository: app\n  ? tag\n",
		"tagged empty value":     "image:\n  repository: app\n  tag: !!null\n",
		"uppercase repository":   "image:\n  repository: App\n  tag: v1\n",
		"uppercase newName":      "kind: Kustomization\nimages:\n  - name: x\n    newName: App\n",
	} {
		t.Run(name, func(t *testing.T) {
			out, changes, err := Rewrite("values.yaml", []byte(input), Update{Image: "app", Tag: "v2"})
			assert.Assert(t, err != nil)
			assert.Assert(t, !errors.Is(err, ErrNoMatch), "got %v", err)
			assert.Assert(t, out == nil)
			assert.Assert(t, changes == nil)
		})
	}
}
