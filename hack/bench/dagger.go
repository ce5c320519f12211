package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/incluster/incluster/pipeline/cireport"
	"github.com/incluster/incluster/pipeline/registry"
)

// daggerCall runs the stack's dagger CLI with args, its progress going to
// the file logName in the log folder, and returns its standard output. A
// TRACEPARENT with a new trace ID goes into its environment: the engine
// passes it on to the module's function containers, which lets the
// memory sampler tell them from the function containers of other calls.
func (b *bencher) daggerCall(ctx context.Context, logName, traceID string, args ...string) ([]byte, error) {
	logFile, err := os.Create(filepath.Join(b.logDir, logName))
	if err != nil {
		return nil, fmt.Errorf("create the dagger log: %w", err)
	}
	defer logFile.Close()
	args = append([]string{"--progress=plain"}, args...)
	cmd := exec.CommandContext(ctx, b.env.Dagger, args...)
	cmd.Dir = b.work
	cmd.Env = append(os.Environ(),
		"DO_NOT_TRACK=1",
		"DAGGER_NO_NAG=1",
		"_EXPERIMENTAL_DAGGER_RUNNER_HOST="+b.env.EngineHost,
		"TRACEPARENT=00-"+traceID+"-"+randomHex(8)+"-01")
	cmd.Stderr = logFile
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("dagger %s: %w: see %s", strings.Join(args[:min(len(args), 4)], " "), err, logFile.Name())
	}
	return out, nil
}

func randomHex(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)
}

// loadModule loads the Dagger module once, so that the first timed run
// does not include building the module's runtime, and returns how long
// that took: seconds when the engine built this module source before,
// about a minute when not.
func (b *bencher) loadModule(ctx context.Context) (time.Duration, error) {
	b.log.Info("loading the Dagger module", "source", b.module)
	start := time.Now()
	if _, err := b.daggerCall(ctx, "module-load.log", randomHex(16), "functions", "-m", b.module); err != nil {
		return 0, fmt.Errorf("load the Dagger module: %w", err)
	}
	return time.Since(start), nil
}

// pipelineRun is the outcome of one build-and-push call.
type pipelineRun struct {
	Name   string `json:"name"`
	Ref    string `json:"ref"`
	Tag    string `json:"tag"`
	Commit string `json:"commit"`
	// Total is the dagger call's wall time.
	Total time.Duration `json:"total"`
	// Steps are the function's steps, as it timed them.
	Steps []cireport.Step `json:"steps"`
	// Outside is Total minus the steps: starting the CLI and the
	// session, loading the module, starting the function and reading
	// its result.
	Outside time.Duration `json:"outside"`
	// Spans are the parts of Outside that the progress output times.
	Spans progressSpans `json:"spans"`
	// Blobs are the pushed blobs with the bytes uploaded for each.
	Blobs []registry.Blob `json:"blobs"`
	// PushVisible and CommitVisible are when, after the start, the tag
	// resolved in the registry and the manifest commit showed on the
	// branch, as the observer polled them. PushToCommit is the
	// difference.
	PushVisible   time.Duration `json:"pushVisible"`
	CommitVisible time.Duration `json:"commitVisible"`
	PushToCommit  time.Duration `json:"pushToCommit"`
	Memory        memoryPeaks   `json:"memory"`
	// Load is /proc/loadavg at the end of the run.
	Load string `json:"load"`
}

// BytesUploaded returns the bytes uploaded for all blobs.
func (r pipelineRun) BytesUploaded() int64 {
	var n int64
	for _, blob := range r.Blobs {
		n += blob.BytesUploaded
	}
	return n
}

func (r pipelineRun) stepsTotal() time.Duration {
	var total time.Duration
	for _, s := range r.Steps {
		total += s.Duration
	}
	return total
}

// step returns the duration of the named step, 0 when it did not run.
func (r pipelineRun) step(name string) time.Duration {
	for _, s := range r.Steps {
		if s.Name == name {
			return s.Duration
		}
	}
	return 0
}

// buildAndPush runs build-and-push on src, observes the registry, the
// manifest repository and the memory meanwhile, and returns the outcome.
// Without expectCommit it does not wait for a manifest commit.
func (b *bencher) buildAndPush(ctx context.Context, name string, t target, src source, repo manifestRepo, cacheKey string, expectCommit bool) (pipelineRun, error) {
	run := pipelineRun{Name: name}
	var err error
	if run.Tag, err = shortSHA(src.commit); err != nil {
		return run, err
	}
	before, err := b.gitea.branchHead(repo.owner, repo.name)
	if err != nil {
		return run, err
	}
	enginePID, err := b.env.enginePID()
	if err != nil {
		return run, err
	}
	traceID := randomHex(16)
	reportDir := filepath.Join(b.work, t.name+"-"+name+"-report")
	args := []string{
		"call", "-m", b.module, "build-and-push",
		"--source", src.dir,
		"--pkg", t.pkg,
		"--registry", b.env.ClusterGitea,
		"--owner", b.env.GiteaUser,
		"--app", repo.app,
		"--username", b.env.GiteaUser,
		"--token", "env:INCLUSTER_BENCH_TOKEN",
		"--manifest-repo", repo.owner + "/" + repo.name,
		"--manifest-path", repo.path,
		"--gitea-url", "http://" + b.env.ClusterGitea,
		"--go-image", b.env.GoImage,
		"--base-image", b.env.BaseImage,
		"--goproxy", b.env.ClusterGoProxy,
		"--plain-http",
		"--cache-key", cacheKey,
		"--test-packages", strings.Join(t.testPackages, ","),
		// dagger call prints an object as its ID, so the results come
		// from the report folder.
		"report", "--output", reportDir,
	}
	os.Setenv("INCLUSTER_BENCH_TOKEN", b.env.token)
	defer os.Unsetenv("INCLUSTER_BENCH_TOKEN")

	b.log.Info("running build-and-push", "target", t.name, "run", name, "tag", run.Tag, "cacheKey", cacheKey)
	obsCtx, stopObserving := context.WithCancel(ctx)
	start := time.Now()
	sampler := startMemorySampler(obsCtx, enginePID, traceID)
	observed := b.observe(obsCtx, start, repo, run.Tag, before)
	_, callErr := b.daggerCall(ctx, t.name+"-"+name+".log", traceID, args...)
	run.Total = time.Since(start)
	run.Load = loadAverage()
	// The commit is visible before the call returns, so the observer
	// stops soon, unless the call failed.
	wait := 5 * time.Second
	if callErr != nil || !expectCommit {
		wait = 0
	}
	obsTimer := time.AfterFunc(wait, stopObserving)
	visible := <-observed
	obsTimer.Stop()
	stopObserving()
	run.Memory = <-sampler
	if callErr != nil {
		return run, callErr
	}
	if pid, err := b.env.enginePID(); err != nil || pid != enginePID {
		return run, fmt.Errorf("the engine restarted during the %s run, so its figures are not comparable: run the benchmark again", name)
	}
	run.PushVisible, run.CommitVisible = visible.push, visible.commit
	if visible.push > 0 && visible.commit > 0 {
		run.PushToCommit = visible.commit - visible.push
	}
	if err := run.readReport(reportDir); err != nil {
		return run, err
	}
	run.Spans = readProgress(filepath.Join(b.logDir, t.name+"-"+name+".log"))
	run.Outside = run.Total - run.stepsTotal()
	b.log.Info("build-and-push done", "target", t.name, "run", name, "total", run.Total.Round(time.Millisecond), "ref", run.Ref)
	return run, nil
}

// readReport reads the report folder of build-and-push: release.json,
// report.json and push.json.
func (r *pipelineRun) readReport(dir string) error {
	read := func(name string, v any) error {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("read the report of build-and-push: %w (is the module older than its %s?)", err, name)
		}
		if err := json.Unmarshal(data, v); err != nil {
			return fmt.Errorf("parse %s of build-and-push: %w", name, err)
		}
		return nil
	}
	var release struct{ Ref, Commit string }
	if err := read("release.json", &release); err != nil {
		return err
	}
	r.Ref, r.Commit = release.Ref, release.Commit
	var report cireport.Report
	if err := read("report.json", &report); err != nil {
		return err
	}
	r.Steps = report.Steps
	var push registry.Result
	if err := read("push.json", &push); err != nil {
		return err
	}
	r.Blobs = push.Blobs
	return nil
}

// progressSpans are the parts of a dagger call outside the function's
// steps, as its plain progress output times them. Zero means not found.
type progressSpans struct {
	// ModuleLoad is "load module": finding, initializing and reading the
	// module's type definitions.
	ModuleLoad time.Duration `json:"moduleLoad"`
	// Arguments is "parsing command line arguments", which uploads the
	// source folder and loads the secret.
	Arguments time.Duration `json:"arguments"`
	// Report is the call of the Release's report function, a second
	// function call with its own container.
	Report time.Duration `json:"report"`
	// Function is the whole buildAndPush call, which includes the steps.
	Function time.Duration `json:"function"`
}

// progressSpanPrefixes maps the start of a progress line, after its span
// number, to the span it times.
var progressSpanPrefixes = []struct {
	prefix string
	field  func(*progressSpans) *time.Duration
}{
	{"load module: ", func(p *progressSpans) *time.Duration { return &p.ModuleLoad }},
	{"parsing command line arguments DONE", func(p *progressSpans) *time.Duration { return &p.Arguments }},
	{"InclusterRelease.report DONE", func(p *progressSpans) *time.Duration { return &p.Report }},
	{"Incluster.buildAndPush DONE", func(p *progressSpans) *time.Duration { return &p.Function }},
}

// readProgress reads the spans from a dagger --progress=plain log. Lines
// look like `5   : load module: DIR DONE [0.6s]`, with colour codes.
func readProgress(file string) progressSpans {
	var spans progressSpans
	data, err := os.ReadFile(file)
	if err != nil {
		return spans
	}
	text := ansiEscape.ReplaceAllString(string(data), "")
	for _, line := range strings.Split(text, "\n") {
		_, rest, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		match := doneDuration.FindStringSubmatch(rest)
		if match == nil {
			continue
		}
		d, err := time.ParseDuration(match[1])
		if err != nil {
			continue
		}
		for _, p := range progressSpanPrefixes {
			if strings.HasPrefix(rest, p.prefix) {
				*p.field(&spans) = d
			}
		}
	}
	return spans
}

var (
	ansiEscape   = regexp.MustCompile("\x1b\\[[0-9;]*m")
	doneDuration = regexp.MustCompile(` (?:DONE|CACHED) \[([0-9.hms]+)\]$`)
)
