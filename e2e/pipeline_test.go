//go:build stack

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/internal/stacktest"
	"github.com/incluster/incluster/pipeline/registry"
)

// tokenEnv is the variable that passes the token to dagger call, which
// reads it as the secret env:INCLUSTER_E2E_TOKEN.
const tokenEnv = "INCLUSTER_E2E_TOKEN"

// pipeline is one build-and-push call against the local stack.
type pipeline struct {
	src  source
	acct *account
	// token is the token passed to the module. Empty means acct.token.
	token string
	app   string
	// pkg is the main package to build. Empty means the module's default.
	pkg          string
	manifestRepo string
	manifestPath string
	// extraArgs are further build-and-push flags, such as the rollout
	// step's.
	extraArgs []string
}

// buildAndPush runs dagger call build-and-push for p. The images are
// pushed to the registry at the cluster-internal address, as a runner in
// the cluster would. Neither the account's token nor p.token may appear
// in the output.
func buildAndPush(t *testing.T, s stacktest.Stack, p pipeline) daggerRun {
	t.Helper()
	token := p.token
	if token == "" {
		token = p.acct.token
	}

	args := []string{
		"-m", moduleRoot(t), "call", "build-and-push",
		"--source", p.src.dir,
		"--registry", s.ClusterGitea,
		"--owner", p.acct.name,
		"--app", p.app,
		"--username", p.acct.name,
		"--token", "env:" + tokenEnv,
		"--manifest-repo", p.manifestRepo,
		"--manifest-path", p.manifestPath,
		"--gitea-url", "http://" + s.ClusterGitea,
		"--go-image", s.GoImage,
		"--base-image", s.BaseImage,
		"--goproxy", s.ClusterGoProxy,
		// No --plain-http: the module reaches *.local registries, such as
		// the cluster's Gitea, over plain HTTP by itself.
	}
	if p.pkg != "" {
		args = append(args, "--pkg", p.pkg)
	}
	args = append(args, p.extraArgs...)
	// The report holds the step outputs image, digest and commit, as the
	// workflow reads them.
	report := filepath.Join(t.TempDir(), "report")
	args = append(args, "report", "--output", report)

	secrets := []secret{p.acct.secret(), {user: p.acct.name, value: token}}
	run := runDagger(t, s, t.TempDir(), []string{tokenEnv + "=" + token}, secrets, args...)
	run.report = report
	// The report files must not contain the token either.
	if run.err == nil {
		files, err := os.ReadDir(report)
		assert.NilError(t, err, "read the report of %s", run.command())
		for _, file := range files {
			data, err := os.ReadFile(filepath.Join(report, file.Name()))
			assert.NilError(t, err)
			checkNoSecrets(t, "the report file "+file.Name(), string(data), secrets)
		}
	}
	return run
}

// result is what build-and-push reports.
type result struct {
	// reference is REGISTRY/OWNER/APP:TAG@sha256:...
	reference string
	digest    string
	// commit is the manifest commit, empty when nothing changed.
	commit string
	// push is the registry push with the bytes uploaded per blob.
	push registry.Result
}

// parseResult reads the step outputs of a successful run from its
// report's outputs file, in GitHub's $GITHUB_OUTPUT format, and the push
// from push.json. The report's summary must name the reference too.
func parseResult(t *testing.T, run daggerRun) result {
	t.Helper()
	requireSuccess(t, run)
	data, err := os.ReadFile(filepath.Join(run.report, "outputs"))
	assert.NilError(t, err, "read the step outputs of %s", run.command())
	outputs, err := parseOutputs(string(data))
	assert.NilError(t, err)
	for _, name := range []string{"image", "digest", "commit"} {
		_, ok := outputs[name]
		assert.Check(t, ok, "the step outputs lack %s:\n%s", name, data)
	}
	res := result{reference: outputs["image"], digest: outputs["digest"], commit: outputs["commit"]}

	data, err = os.ReadFile(filepath.Join(run.report, "push.json"))
	assert.NilError(t, err, "read the push result of %s", run.command())
	assert.NilError(t, json.Unmarshal(data, &res.push), "push.json: %s", data)

	summary, err := os.ReadFile(filepath.Join(run.report, "summary.md"))
	assert.NilError(t, err, "read the job summary of %s", run.command())
	assert.Check(t, is.Contains(string(summary), res.reference), "job summary")
	return res
}

// parseOutputs parses step outputs in the $GITHUB_OUTPUT format: lines of
// NAME=VALUE, or NAME<<DELIMITER, the value's lines, then DELIMITER.
func parseOutputs(text string) (map[string]string, error) {
	outputs := map[string]string{}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if line == "" {
			continue
		}
		if name, delimiter, ok := strings.Cut(line, "<<"); ok {
			var value []string
			for i++; i < len(lines) && lines[i] != delimiter; i++ {
				value = append(value, lines[i])
			}
			if i == len(lines) {
				return nil, fmt.Errorf("parse step outputs: no delimiter %q after output %s", delimiter, name)
			}
			outputs[name] = strings.Join(value, "\n")
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("parse step outputs: invalid line %q, expected NAME=VALUE or NAME<<DELIMITER", line)
		}
		outputs[name] = value
	}
	return outputs, nil
}

// requireSuccess stops the test when run failed, showing its error.
func requireSuccess(t *testing.T, run daggerRun) {
	t.Helper()
	if run.err != nil {
		t.Fatalf("%s: %v\nstandard error (end):\n%s", run.command(), run.err, tail(run.stderr, 6000))
	}
}

// failure returns the error that a failed run printed last, the text
// after "Error: ". It stops the test when the run succeeded.
func failure(t *testing.T, run daggerRun) string {
	t.Helper()
	if run.err == nil {
		t.Fatalf("%s succeeded, want a failure", run.command())
	}
	i := strings.LastIndex("\n"+run.stderr, "\nError: ")
	if i < 0 {
		t.Fatalf("%s printed no error: %v\nstandard error (end):\n%s", run.command(), run.err, tail(run.stderr, 6000))
	}
	return strings.TrimSpace(run.stderr[i+len("Error: "):])
}

// deployment returns a Deployment manifest whose one container runs image.
func deployment(name, image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
    spec:
      containers:
      - name: %[1]s
        image: %[2]s
`, name, image)
}

// splitReference splits REGISTRY/REPOSITORY:TAG@DIGEST.
func splitReference(t *testing.T, ref string) (repository, tag, digest string) {
	t.Helper()
	named, digest, ok := strings.Cut(ref, "@")
	assert.Assert(t, ok, "reference %q has no digest", ref)
	i := strings.LastIndex(named, ":")
	assert.Assert(t, i > strings.LastIndex(named, "/"), "reference %q has no tag", ref)
	return named[:i], named[i+1:], digest
}
