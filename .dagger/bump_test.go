// The generated client in internal/dagger connects to the engine when the
// package loads, so these tests need it generated (dagger develop) and
// fake session variables:
//
//	DAGGER_SESSION_PORT=1 DAGGER_SESSION_TOKEN=unused go test ./
package main

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/pipeline/manifest"
)

func TestUndoRestoresOldContent(t *testing.T) {
	old := "a: 1\nimage: reg/app:v1\nb: 2\nimage: reg/app:v1\n"
	update := manifest.Update{Image: "reg/app", Tag: "v22"}
	data, changes, err := manifest.Rewrite("f.yaml", []byte(old), update)
	assert.NilError(t, err)
	assert.Assert(t, is.Len(changes, 2))

	got, err := undo(data, changes)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(got), old))
}

func TestUndoRejectsOtherContent(t *testing.T) {
	changes := []manifest.Change{{File: "f.yaml", Line: 1, Offset: 7, Old: "reg/app:v1", New: "reg/app:v2"}}
	_, err := undo([]byte("image: reg/app:v3\n"), changes)
	assert.ErrorContains(t, err, "line 1 of f.yaml")
}

func TestParseReference(t *testing.T) {
	digest := "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		in   string
		want reference
	}{
		{"reg:3000/o/app:v1@" + digest, reference{Repository: "reg:3000/o/app", Tag: "v1", Digest: digest}},
		{"reg:3000/o/app:v1", reference{Repository: "reg:3000/o/app", Tag: "v1"}},
		{"reg:3000/o/app@" + digest, reference{Repository: "reg:3000/o/app", Digest: digest}},
	} {
		got, err := parseReference(tc.in)
		assert.Check(t, err, tc.in)
		assert.Check(t, is.DeepEqual(got, tc.want), tc.in)
	}
	for _, in := range []string{"reg:3000/o/app", "reg/o/app:-bad", "reg/o/app@sha256:12"} {
		_, err := parseReference(in)
		assert.Check(t, is.ErrorContains(err, "invalid reference"), in)
	}
}

func TestIsLocalHost(t *testing.T) {
	assert.Check(t, isLocalHost("gitea-http.gitea.svc.cluster.local:3000"))
	assert.Check(t, isLocalHost("registry.LOCAL"))
	assert.Check(t, !isLocalHost("registry.example.com:443"))
	assert.Check(t, !isLocalHost("local:5000"))
}

func TestPlatformEnv(t *testing.T) {
	env, err := platformEnv("linux/arm/v7")
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(env, [][2]string{{"GOOS", "linux"}, {"GOARCH", "arm"}, {"GOARM", "7"}}))

	_, err = platformEnv("linux")
	assert.Check(t, is.ErrorContains(err, `invalid platform "linux"`))
}

func TestHighestVersion(t *testing.T) {
	tags := []string{"abc1234", "v0.1", "v0.3", "latest", "v0.2"}
	assert.Check(t, is.Equal(highestVersion(tags, "v0.4"), "v0.3"))
}

func TestManifestTargetRejectsURLWithoutScheme(t *testing.T) {
	target := manifestTarget{giteaURL: "gitea:3000", repository: "acme/deploy", path: "app.yaml"}
	assert.Check(t, is.ErrorContains(target.validate(), `invalid --gitea-url "gitea:3000"`))
	target.giteaURL = "http://gitea:3000"
	assert.Check(t, target.validate())
}
