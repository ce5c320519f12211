package writeback

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/pipeline/manifest"
)

func TestRenderMessageDefault(t *testing.T) {
	req := Request{Updates: []manifest.Update{{Image: "example.com/app", Tag: "v2"}}}
	msg, err := renderMessage(req, MessageData{
		Updates: req.Updates,
		Changes: []manifest.Change{{File: "d.yaml", Kind: "Deployment", Name: "web", Path: "spec.template.spec.containers[0].image",
			Old: "example.com/app:v1", New: "example.com/app:v2"}},
		RunURL: "https://github.com/acme/app/actions/runs/7",
	})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(msg, "Bump example.com/app:v2\n\n"+
		"- d.yaml: Deployment/web spec.template.spec.containers[0].image: example.com/app:v1 -> example.com/app:v2\n\n"+
		"Pipeline-Run: https://github.com/acme/app/actions/runs/7\n"))
}

func TestRenderMessageSeveralImages(t *testing.T) {
	req := Request{Updates: []manifest.Update{{Image: "a", Tag: "1"}, {Image: "b", Digest: digest}}}
	msg, err := renderMessage(req, MessageData{Updates: req.Updates})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(msg, "Bump 2 images\n"))
}

func TestRenderMessageCustomTemplate(t *testing.T) {
	req := Request{MessageTemplate: "deploy: {{range .Updates}}{{ref .}} {{end}}to {{.Branch}}\n\nFiles: {{join .Files \", \"}}"}
	_, err := parseMessageTemplate(req.MessageTemplate)
	assert.Check(t, is.ErrorContains(err, `function "join" not defined`))

	req.MessageTemplate = "deploy: {{range .Updates}}{{ref .}} {{end}}to {{.Branch}}\n\n{{len .Files}} files"
	msg, err := renderMessage(req, MessageData{Branch: "main", Files: []string{"a", "b"},
		Updates: []manifest.Update{{Image: "a", Tag: "1"}}})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(msg, "deploy: a:1 to main\n\n2 files\n"))
}

func TestRenderMessageEmpty(t *testing.T) {
	_, err := renderMessage(Request{MessageTemplate: "{{/* nothing */}}"}, MessageData{})
	assert.Check(t, is.ErrorContains(err, "the message is empty"))
}

func TestRunURLFromEnv(t *testing.T) {
	env := map[string]string{
		"GITHUB_SERVER_URL": "https://github.example.com/",
		"GITHUB_REPOSITORY": "acme/app",
		"GITHUB_RUN_ID":     "12345",
		// An event file that does not exist must not matter.
		"GITHUB_EVENT_PATH": "/nonexistent/event.json",
	}
	getenv := func(k string) string { return env[k] }
	assert.Check(t, is.Equal(RunURLFromEnv(getenv), "https://github.example.com/acme/app/actions/runs/12345"))

	delete(env, "GITHUB_SERVER_URL")
	assert.Check(t, is.Equal(RunURLFromEnv(getenv), "https://github.com/acme/app/actions/runs/12345"))

	delete(env, "GITHUB_RUN_ID")
	assert.Check(t, is.Equal(RunURLFromEnv(getenv), ""))
}

func TestSubjectAndBody(t *testing.T) {
	subject, body := subjectAndBody("Bump a:1\n\n- line\n")
	assert.Check(t, is.Equal(subject, "Bump a:1"))
	assert.Check(t, is.Equal(body, "- line"))
}
