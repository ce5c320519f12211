package cireport_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
	"gotest.tools/v3/golden"

	"github.com/incluster/incluster/pipeline/cireport"
)

const (
	testImage  = "gitea-http.gitea.svc.cluster.local:3000/acme/hello:v0.1.1@sha256:3f1d0c0b8a4c9e27a0d6b1e5f2a7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f"
	testDigest = "sha256:3f1d0c0b8a4c9e27a0d6b1e5f2a7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f"
	testCommit = "9b2e4f1c0d8a7b6e5f4a3b2c1d0e9f8a7b6c5d4e"
	testDiff   = `--- a/hello/deployment.yaml
+++ b/hello/deployment.yaml
@@ -19 +19 @@
-          image: gitea-http.gitea.svc.cluster.local:3000/acme/hello:v0.1.0
+          image: gitea-http.gitea.svc.cluster.local:3000/acme/hello:v0.1.1@sha256:3f1d0c0b8a4c9e27a0d6b1e5f2a7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f
`
)

func testResult() cireport.Result {
	return cireport.Result{Image: testImage, Digest: testDigest, Commit: testCommit, ManifestDiff: testDiff}
}

func testReport() cireport.Report {
	return cireport.Report{
		Result: testResult(),
		Steps: []cireport.Step{
			{Name: "test", Duration: 12340 * time.Millisecond},
			{Name: "build", Duration: 41 * time.Second},
			{Name: "push", Duration: 812 * time.Millisecond},
			{Name: "bump", Duration: 2 * time.Minute, Error: "write manifest: conflict | retried 3 times"},
		},
	}
}

// tickingClock returns a clock that advances by tick on every reading, so
// each step lasts exactly tick.
func tickingClock(tick time.Duration) func() time.Time {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		now = now.Add(tick)
		return now
	}
}

// actionsEnv is a GitHub Actions environment whose files live in dir.
type actionsEnv struct {
	output, summary string
}

func newActionsEnv(t *testing.T) (actionsEnv, func(string) string) {
	t.Helper()
	dir := fs.NewDir(t, "actions", fs.WithFile("output", ""), fs.WithFile("summary", ""))
	env := actionsEnv{output: dir.Join("output"), summary: dir.Join("summary")}
	vars := map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_OUTPUT":       env.output,
		"GITHUB_STEP_SUMMARY": env.summary,
	}
	return env, func(key string) string { return vars[key] }
}

func plainEnv(string) string { return "" }

// parseOutputs reads a $GITHUB_OUTPUT file: NAME<<DELIMITER lines, the
// value, then the delimiter.
func parseOutputs(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	assert.NilError(t, err)
	outputs := map[string]string{}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		name, delimiter, ok := strings.Cut(lines[i], "<<")
		assert.Assert(t, ok, "line %d of %s is not NAME<<DELIMITER: %q", i+1, path, lines[i])
		var value []string
		for i++; i < len(lines) && lines[i] != delimiter; i++ {
			value = append(value, lines[i])
		}
		assert.Assert(t, i < len(lines), "output %s has no closing delimiter", name)
		outputs[name] = strings.Join(value, "\n")
	}
	return outputs
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	assert.NilError(t, err)
	return string(data)
}

func TestSummaryGolden(t *testing.T) {
	golden.Assert(t, cireport.Summary(testReport()), "summary.golden")
}

func TestSummaryWithoutChange(t *testing.T) {
	rep := cireport.Report{Result: cireport.Result{Image: testImage, Digest: testDigest}}
	got := cireport.Summary(rep)
	assert.Assert(t, is.Contains(got, "**Manifest commit:** none"))
	assert.Assert(t, is.Contains(got, "nothing was committed"))
	assert.Assert(t, !strings.Contains(got, "| Step |"), "no steps, no table")
}

func TestSummaryDiffWithBackticks(t *testing.T) {
	rep := cireport.Report{Result: cireport.Result{ManifestDiff: "+  # see ```yaml\n"}}
	got := cireport.Summary(rep)
	assert.Assert(t, is.Contains(got, "````diff\n+  # see ```yaml\n````\n"))
}

func TestWritePlainGolden(t *testing.T) {
	var out bytes.Buffer
	assert.NilError(t, cireport.WritePlain(&out, testReport()))
	golden.Assert(t, out.String(), "plain.golden")
}

func TestReporterInActions(t *testing.T) {
	env, getenv := newActionsEnv(t)
	var stderr bytes.Buffer
	r := cireport.New(&stderr, cireport.WithGetenv(getenv), cireport.WithClock(tickingClock(1500*time.Millisecond)))
	assert.Assert(t, r.InActions())

	r.Mask("s3cr3t-token")
	err := r.Step(context.Background(), "build", func(context.Context) error {
		_, err := r.Writer().Write([]byte("pushing with token s3cr3t-token\n"))
		return err
	})
	assert.NilError(t, err)
	rep, err := r.Publish(testResult())
	assert.NilError(t, err)

	log := stderr.String()
	assert.Assert(t, is.Contains(log, "::add-mask::s3cr3t-token\n"))
	assert.Assert(t, is.Contains(log, "::group::build\n"))
	assert.Assert(t, is.Contains(log, "pushing with token ***\n"))
	assert.Assert(t, is.Contains(log, "<== build: ok in 1.5s\n::endgroup::\n"))
	assert.Assert(t, !strings.Contains(strings.ReplaceAll(log, "::add-mask::s3cr3t-token", ""), "s3cr3t-token"),
		"the secret appears only in the add-mask command")

	assert.DeepEqual(t, parseOutputs(t, env.output), map[string]string{
		"image":  testImage,
		"digest": testDigest,
		"commit": testCommit,
	})
	summary := readFile(t, env.summary)
	assert.Assert(t, is.Contains(summary, "| build | 1.5s | ok |"))
	assert.Assert(t, is.Contains(summary, "**Image:** `"+testImage+"`"))
	assert.Assert(t, is.Contains(summary, testDiff))
	assert.DeepEqual(t, rep.Steps, []cireport.Step{{Name: "build", Duration: 1500 * time.Millisecond}})
}

func TestReporterPlain(t *testing.T) {
	var stderr bytes.Buffer
	r := cireport.New(&stderr, cireport.WithGetenv(plainEnv), cireport.WithClock(tickingClock(time.Second)))
	assert.Assert(t, !r.InActions())

	r.Mask("s3cr3t-token")
	assert.NilError(t, r.Step(context.Background(), "test", func(context.Context) error { return nil }))
	_, err := r.Publish(cireport.Result{Image: "registry/app:v1@sha256:ab", Digest: "sha256:ab", Commit: "c0ffee"})
	assert.NilError(t, err)

	log := stderr.String()
	assert.Assert(t, !strings.Contains(log, "::"), "no workflow commands outside Actions:\n%s", log)
	assert.Assert(t, is.Contains(log, "==> test\n<== test: ok in 1s\n"))
	assert.Assert(t, is.Contains(log, "image:  registry/app:v1@sha256:ab\n"))
	assert.Assert(t, is.Contains(log, "commit: c0ffee\n"))
	assert.Assert(t, is.Contains(log, "manifest diff: none"))
}

func TestWriterRedactsPlain(t *testing.T) {
	var stderr bytes.Buffer
	r := cireport.New(&stderr, cireport.WithGetenv(plainEnv))
	r.Mask("")
	r.Mask("line-one\nline-two")
	n, err := r.Writer().Write([]byte("a line-one b line-two c\n"))
	assert.NilError(t, err)
	assert.Equal(t, n, len("a line-one b line-two c\n"))
	assert.Equal(t, stderr.String(), "a *** b *** c\n")
}

func TestMaskMultilineInActions(t *testing.T) {
	_, getenv := newActionsEnv(t)
	var stderr bytes.Buffer
	r := cireport.New(&stderr, cireport.WithGetenv(getenv))
	r.Mask("-----BEGIN KEY-----\r\nabc\r\n-----END KEY-----\n")
	assert.Equal(t, stderr.String(), "::add-mask::-----BEGIN KEY-----\n::add-mask::abc\n::add-mask::-----END KEY-----\n")
}

func TestStepReturnsError(t *testing.T) {
	var stderr bytes.Buffer
	r := cireport.New(&stderr, cireport.WithGetenv(plainEnv), cireport.WithClock(tickingClock(time.Second)))
	want := errors.New("go test failed: 2 tests")
	got := r.Step(context.Background(), "test", func(context.Context) error { return want })
	assert.Assert(t, got == want, "Step returns fn's error unchanged, got %v", got)
	assert.DeepEqual(t, r.Steps(), []cireport.Step{{Name: "test", Duration: time.Second, Error: "go test failed: 2 tests"}})
	assert.Assert(t, is.Contains(stderr.String(), "<== test: failed in 1s"))
}

func TestStepCancelledContext(t *testing.T) {
	r := cireport.New(&bytes.Buffer{}, cireport.WithGetenv(plainEnv))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := r.Step(ctx, "test", func(context.Context) error { ran = true; return nil })
	assert.ErrorIs(t, err, context.Canceled)
	assert.Assert(t, !ran)
	assert.Assert(t, is.Len(r.Steps(), 0))
}

func TestNestedStepsGroupOnce(t *testing.T) {
	_, getenv := newActionsEnv(t)
	var stderr bytes.Buffer
	r := cireport.New(&stderr, cireport.WithGetenv(getenv))
	err := r.Step(context.Background(), "build", func(ctx context.Context) error {
		return r.Step(ctx, "compile", func(context.Context) error { return nil })
	})
	assert.NilError(t, err)
	log := stderr.String()
	assert.Equal(t, strings.Count(log, "::group::"), 1, log)
	assert.Equal(t, strings.Count(log, "::endgroup::"), 1, log)
	assert.Assert(t, is.Contains(log, "==> compile\n"))
	assert.Equal(t, len(r.Steps()), 2)
	assert.Equal(t, r.Steps()[0].Name, "compile", "steps are recorded in the order they end")
}

func TestPublishWriteFailure(t *testing.T) {
	getenv := func(key string) string {
		switch key {
		case "GITHUB_ACTIONS":
			return "true"
		case "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY":
			return filepath.Join(t.TempDir(), "missing", "file")
		}
		return ""
	}
	r := cireport.New(&bytes.Buffer{}, cireport.WithGetenv(getenv))
	_, err := r.Publish(testResult())
	assert.ErrorContains(t, err, "publish report to GitHub Actions failed")
}

func TestExportWritesFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "report")
	assert.NilError(t, cireport.Export(dir, testReport()))
	// A second export replaces the first instead of appending to it.
	assert.NilError(t, cireport.Export(dir, testReport()))

	assert.DeepEqual(t, parseOutputs(t, filepath.Join(dir, cireport.OutputsFile)), map[string]string{
		"image":  testImage,
		"digest": testDigest,
		"commit": testCommit,
	})
	summary := readFile(t, filepath.Join(dir, cireport.SummaryFile))
	assert.Equal(t, summary, cireport.Summary(testReport())+"\n")
}
