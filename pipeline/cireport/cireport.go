// Package cireport publishes what a pipeline run did. Inside GitHub
// Actions it sets the step outputs image, digest and commit, writes a job
// summary (steps with durations, the image reference, the manifest diff),
// masks secrets and groups the log lines of each step. Elsewhere it prints
// the same facts as plain text.
//
// The pipeline can also run where the Actions environment is out of reach,
// such as inside a Dagger function. There, Export writes the outputs and
// the summary as files in GitHub's formats, and the workflow appends them
// to $GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY.
package cireport

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sethvargo/go-githubactions"
)

// Names of the files that Export writes.
const (
	// OutputsFile holds the step outputs in the $GITHUB_OUTPUT format.
	OutputsFile = "outputs"
	// SummaryFile holds the job summary in Markdown.
	SummaryFile = "summary.md"
)

// Step is one timed step of a run.
type Step struct {
	Name string `json:"name"`
	// Duration is encoded in JSON as nanoseconds.
	Duration time.Duration `json:"duration"`
	// Error is the step's error message, empty when it succeeded.
	Error string `json:"error,omitempty"`
}

// Result is the outcome of one run.
type Result struct {
	// Image is the pushed reference with its digest,
	// REGISTRY/OWNER/APP:TAG@sha256:....
	Image string `json:"image"`
	// Digest is the image manifest digest, sha256:....
	Digest string `json:"digest"`
	// Commit is the manifest repository commit that bumped the image,
	// empty when the manifest already had it.
	Commit string `json:"commit"`
	// ManifestDiff is the unified diff of the bump, empty when nothing
	// changed.
	ManifestDiff string `json:"manifestDiff,omitempty"`
}

// Report is a Result with the steps that produced it.
type Report struct {
	Result
	Steps []Step `json:"steps"`
}

// Reporter records the steps of one run and publishes its report. Its
// methods are safe for concurrent use, but log groups do not nest in
// GitHub Actions, so only steps at the outermost level get a group.
type Reporter struct {
	action  *githubactions.Action
	actions bool
	out     io.Writer
	now     func() time.Time

	mu      sync.Mutex
	steps   []Step
	secrets []string
	depth   int
}

// Option configures a Reporter.
type Option func(*Reporter)

// WithGetenv sets how the Reporter reads GITHUB_ACTIONS, GITHUB_OUTPUT and
// GITHUB_STEP_SUMMARY. The default is os.Getenv.
func WithGetenv(getenv func(string) string) Option {
	return func(r *Reporter) {
		r.actions = getenv("GITHUB_ACTIONS") == "true"
		r.action = githubactions.New(githubactions.WithWriter(r.out), githubactions.WithGetenv(getenv))
	}
}

// WithClock sets the clock that times steps. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(r *Reporter) { r.now = now }
}

// New returns a Reporter that writes messages to out and, inside GitHub
// Actions, workflow commands too. A command-line program passes standard
// error, because the Actions runner processes commands on both streams.
func New(out io.Writer, opts ...Option) *Reporter {
	r := &Reporter{out: out, now: time.Now}
	WithGetenv(os.Getenv)(r)
	for _, opt := range opts {
		opt(r)
	}
	return r
}

// InActions reports whether the Reporter runs inside GitHub Actions
// (GITHUB_ACTIONS=true).
func (r *Reporter) InActions() bool { return r.actions }

// Mask hides secret from everything written through Writer from now on
// and, inside GitHub Actions, from the whole job log. Each line of a
// multi-line secret is masked on its own, as the runner matches per line.
func (r *Reporter) Mask(secret string) {
	if secret == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append(r.secrets, secret)
	for _, line := range strings.Split(secret, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		if line != secret {
			r.secrets = append(r.secrets, line)
		}
		if r.actions {
			r.action.AddMask(line)
		}
	}
}

// Writer returns the writer for a run's messages, such as the output of a
// slog handler. It replaces every masked secret with "***".
//
// NOTE: it redacts within each Write call, so a secret split across two
// calls passes through. slog handlers write one whole record per call.
func (r *Reporter) Writer() io.Writer { return redactor{r} }

type redactor struct{ r *Reporter }

func (w redactor) Write(p []byte) (int, error) {
	w.r.mu.Lock()
	secrets := w.r.secrets
	w.r.mu.Unlock()
	if len(secrets) == 0 {
		return w.r.out.Write(p)
	}
	s := string(p)
	for _, secret := range secrets {
		s = strings.ReplaceAll(s, secret, "***")
	}
	if _, err := io.WriteString(w.r.out, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Step runs fn as the step name, times it and records the outcome. Inside
// GitHub Actions the step's log lines form a collapsible group; elsewhere
// a line marks its start and one its end. Step returns fn's error as is,
// or ctx's error without running fn when ctx is already done.
func (r *Reporter) Step(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	outermost := r.depth == 0
	r.depth++
	r.mu.Unlock()

	switch {
	case outermost && r.actions:
		r.action.Group(name)
	default:
		fmt.Fprintf(r.out, "==> %s\n", name)
	}

	start := r.now()
	err := fn(ctx)
	step := Step{Name: name, Duration: r.now().Sub(start)}
	if err != nil {
		step.Error = err.Error()
	}

	r.mu.Lock()
	r.depth--
	r.steps = append(r.steps, step)
	r.mu.Unlock()

	status := "ok"
	if err != nil {
		status = "failed"
	}
	fmt.Fprintf(r.Writer(), "<== %s: %s in %s\n", name, status, formatDuration(step.Duration))
	if outermost && r.actions {
		r.action.EndGroup()
	}
	return err
}

// Steps returns the steps recorded so far, in the order they ended.
func (r *Reporter) Steps() []Step {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Step(nil), r.steps...)
}

// Publish reports res with the recorded steps. Inside GitHub Actions it
// sets the step outputs and appends the job summary; elsewhere it prints
// the report as plain text. It returns the report it published.
func (r *Reporter) Publish(res Result) (Report, error) {
	rep := Report{Result: res, Steps: r.Steps()}
	if r.actions {
		return rep, publish(r.action, rep)
	}
	return rep, WritePlain(r.Writer(), rep)
}

// publish sets the outputs and appends the summary through a. It turns the
// panics with which go-githubactions reports write failures into errors.
func publish(a *githubactions.Action, rep Report) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("publish report to GitHub Actions failed: %v", p)
		}
	}()
	a.SetOutput("image", rep.Image)
	a.SetOutput("digest", rep.Digest)
	a.SetOutput("commit", rep.Commit)
	a.AddStepSummary(Summary(rep))
	return nil
}

// Export writes rep into dir as OutputsFile and SummaryFile, replacing
// any earlier export, for a caller that runs outside the job's
// environment. The workflow appends them to $GITHUB_OUTPUT and
// $GITHUB_STEP_SUMMARY.
func Export(dir string, rep Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export report to %s: %w", dir, err)
	}
	files := map[string]string{
		"GITHUB_OUTPUT":       filepath.Join(dir, OutputsFile),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, SummaryFile),
	}
	for _, path := range files {
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			return fmt.Errorf("export report to %s: %w", dir, err)
		}
	}
	a := githubactions.New(
		githubactions.WithWriter(io.Discard),
		githubactions.WithGetenv(func(key string) string { return files[key] }),
	)
	return publish(a, rep)
}
