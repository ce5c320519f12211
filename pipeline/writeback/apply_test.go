package writeback

import (
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/pipeline/manifest"
)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestApplyUpdatesComposesChanges(t *testing.T) {
	files := []string{"app/deployment.yaml", "app/kustomization.yaml", "README.md"}
	current := map[string][]byte{
		"app/deployment.yaml":    []byte(deploymentYAML),
		"app/kustomization.yaml": []byte(kustomizationYAML),
		"README.md":              []byte("no images here\n"),
	}
	updates := []manifest.Update{
		// The kustomization gains a digest line, which shifts the lines
		// and offsets of every later change in that file.
		{Image: "registry.example/team/app", Tag: "v2", Digest: digest},
		{Image: "registry.example/team/sidecar", Tag: "v7"},
	}
	rw, err := applyUpdates(files, current, updates)
	assert.NilError(t, err)
	assert.Check(t, rw.changed())
	assert.Check(t, is.DeepEqual(rw.files, []string{"app/deployment.yaml", "app/kustomization.yaml"}))

	byFile := make(map[string][]manifest.Change)
	for _, c := range rw.changes {
		byFile[c.File] = append(byFile[c.File], c)
	}
	assert.Check(t, is.Len(byFile["app/deployment.yaml"], 2))
	for _, file := range rw.files {
		applied, err := manifest.Apply(current[file], byFile[file])
		assert.NilError(t, err, file)
		assert.Check(t, is.Equal(string(applied), string(rw.content[file])), file)
	}
	assert.Check(t, is.Contains(string(rw.content["app/deployment.yaml"]), "registry.example/team/app:v2@"+digest))
	assert.Check(t, is.Contains(string(rw.content["app/deployment.yaml"]), "registry.example/team/sidecar:v7"))
}

func TestApplyUpdatesTranslatesLaterOffsets(t *testing.T) {
	// The second update's reference comes after the first one's, in a
	// file whose first change grows by a digest.
	data := []byte("containers:\n  - image: example.com/a:v1\n  - image: example.com/b:v1\n")
	updates := []manifest.Update{
		{Image: "example.com/a", Tag: "v2", Digest: digest},
		{Image: "example.com/b", Tag: "v2"},
	}
	rw, err := applyUpdates([]string{"f.yaml"}, map[string][]byte{"f.yaml": data}, updates)
	assert.NilError(t, err)
	assert.Assert(t, is.Len(rw.changes, 2))
	assert.Check(t, rw.changes[0].Offset < rw.changes[1].Offset)
	assert.Check(t, is.Equal(rw.changes[1].Line, 3))
	assert.Check(t, is.Equal(string(data[rw.changes[1].Offset:rw.changes[1].Offset+len(rw.changes[1].Old)]), rw.changes[1].Old))
	applied, err := manifest.Apply(data, rw.changes)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(applied), string(rw.content["f.yaml"])))
}

func TestApplyUpdatesSeveralChangesPerUpdate(t *testing.T) {
	// Each update changes two references, so each Rewrite reports two
	// offsets in its own input, and the second update's input already
	// has the first update's longer references.
	data := []byte("containers:\n  - image: example.com/a:v1\n  - image: example.com/b:v1\n" +
		"initContainers:\n  - image: example.com/a:v1\n  - image: example.com/b:v1\n")
	updates := []manifest.Update{
		{Image: "example.com/a", Tag: "v2", Digest: digest},
		{Image: "example.com/b", Tag: "v3"},
	}
	rw, err := applyUpdates([]string{"f.yaml"}, map[string][]byte{"f.yaml": data}, updates)
	assert.NilError(t, err)
	assert.Assert(t, is.Len(rw.changes, 4))
	applied, err := manifest.Apply(data, rw.changes)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(applied), string(rw.content["f.yaml"])))
	for i, wantLine := range []int{2, 3, 5, 6} {
		assert.Check(t, is.Equal(rw.changes[i].Line, wantLine), "change %d", i)
	}
}

func TestApplyUpdatesGoldenInputs(t *testing.T) {
	// Every manifest golden case with an expected output, applied as a
	// write-back: the content must match, and the reported changes
	// applied to the input must give the same content.
	inputs, err := filepath.Glob("../manifest/testdata/*/input")
	assert.NilError(t, err)
	ran := 0
	for _, input := range inputs {
		dir := filepath.Dir(input)
		want, err := os.ReadFile(filepath.Join(dir, "want"))
		if os.IsNotExist(err) {
			continue
		}
		assert.NilError(t, err)
		data, err := os.ReadFile(input)
		assert.NilError(t, err)
		args := readGoldenArgs(t, filepath.Join(dir, "args"))
		file := goldenFile(args)
		update := manifest.Update{Image: args["image"], Tag: args["tag"], Digest: args["digest"]}
		ran++

		t.Run(filepath.Base(dir), func(t *testing.T) {
			rw, err := applyUpdates([]string{file}, map[string][]byte{file: data}, []manifest.Update{update})
			assert.NilError(t, err)
			got := data
			if rw.changed() {
				got = rw.content[file]
			}
			assert.Check(t, is.Equal(string(got), string(want)))
			applied, err := manifest.Apply(data, rw.changes)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(string(applied), string(want)))
		})
	}
	assert.Check(t, ran > 0, "no golden case with an expected output")
}

func TestApplyUpdatesNothingToChange(t *testing.T) {
	rw, err := applyUpdates([]string{"d.yaml"}, map[string][]byte{"d.yaml": []byte(deploymentYAML)},
		[]manifest.Update{{Image: "registry.example/team/app", Tag: "v1"}})
	assert.NilError(t, err)
	assert.Check(t, !rw.changed())
	assert.Check(t, is.Len(rw.changes, 0))
}

func TestApplyUpdatesUnknownImage(t *testing.T) {
	_, err := applyUpdates([]string{"d.yaml"}, map[string][]byte{"d.yaml": []byte(deploymentYAML)},
		[]manifest.Update{{Image: "registry.example/team/app", Tag: "v2"}, {Image: "redis", Tag: "7"}})
	assert.Check(t, is.ErrorIs(err, manifest.ErrNoMatch))
	assert.Check(t, is.ErrorContains(err, "apply redis:7: no reference to the image redis in d.yaml"))
}

func TestApplyUpdatesSameImageTwice(t *testing.T) {
	// "nginx" and "docker.io/library/nginx" name the same repository.
	data := []byte("spec:\n  containers:\n    - image: nginx:1.25\n")
	_, err := applyUpdates([]string{"d.yaml"}, map[string][]byte{"d.yaml": data},
		[]manifest.Update{{Image: "nginx", Tag: "1.26"}, {Image: "docker.io/library/nginx", Tag: "1.27"}})
	assert.Check(t, is.ErrorContains(err, "two updates change"))
}
