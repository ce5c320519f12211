// Command bench measures where the time and the bytes of a build-and-push
// run go, against the local stack (hack/stack).
//
// For each target (podinfo, and this repository's cmd/incluster) it runs
// `dagger call build-and-push` twice: cold, with Go module and build cache
// volumes that no call used before, then warm, after a one-line change
// of the main package, then once more without a change. In the same run
// it measures the baseline that a warm run cannot go below. The baseline
// is a host `go build` with a warm cache, a go-containerregistry push of
// the binary as one layer onto the same base, and one commit through
// Gitea's contents API. It prints one Markdown table per run on stdout
// and its progress on stderr.
//
//	eval "$(hack/stack env)"
//	go run ./hack/bench
//
// BENCHMARKS.md records the results and explains them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	targets []string
	cold    bool
	keep    bool
	json    bool
	logDir  string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: go run ./hack/bench [flags]

Runs build-and-push cold and warm on each target against the local stack
and prints one Markdown table per run, then the baseline and the ratio.
Needs the variables of hack/stack env: eval "$(hack/stack env)" first.

Targets: %s.

Flags:
`, strings.Join(targetNames(), ", "))
		fs.PrintDefaults()
	}
	var opts options
	targetList := fs.String("targets", strings.Join(targetNames(), ","), "comma-separated targets to measure")
	fs.BoolVar(&opts.cold, "cold", true, "run the cold run; -cold=false starts with warm caches from an earlier run of the same cache key")
	fs.BoolVar(&opts.keep, "keep", false, "keep the Gitea repositories and images that the benchmark creates")
	fs.BoolVar(&opts.json, "json", false, "print the results as JSON instead of Markdown tables")
	fs.StringVar(&opts.logDir, "log-dir", "", "folder for the dagger progress logs (default: a temporary folder, kept when a run fails)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	for _, name := range strings.Split(*targetList, ",") {
		name = strings.TrimSpace(name)
		if _, ok := targets[name]; !ok {
			fmt.Fprintf(stderr, "bench: unknown target %q: expected one of %s\n", name, strings.Join(targetNames(), ", "))
			return 2
		}
		opts.targets = append(opts.targets, name)
	}

	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := bench(ctx, opts, stdout, log); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

func bench(ctx context.Context, opts options, stdout io.Writer, log *slog.Logger) error {
	env, err := readStackEnv()
	if err != nil {
		return err
	}
	root, err := repositoryRoot()
	if err != nil {
		return err
	}
	runID := newRunID()
	work, err := os.MkdirTemp("", "incluster-bench-")
	if err != nil {
		return fmt.Errorf("create a work folder: %w", err)
	}
	defer os.RemoveAll(work)
	logDir := opts.logDir
	if logDir == "" {
		if logDir, err = os.MkdirTemp("", "incluster-bench-logs-"); err != nil {
			return fmt.Errorf("create a log folder: %w", err)
		}
	}
	log.Info("starting", "run", runID, "logs", logDir)

	machine := describeMachine(ctx, env)
	b := &bencher{env: env, root: root, work: work, logDir: logDir, runID: runID, log: log}
	gitea, err := newGiteaClient(env)
	if err != nil {
		return err
	}
	b.gitea = gitea
	if machine.Gitea, _, err = gitea.api.ServerVersion(); err != nil {
		return fmt.Errorf("read Gitea's version: %w", err)
	}

	// The module comes from a clone of the last commit, so that changes
	// that other work makes to the working tree meanwhile neither change
	// nor reload it between the runs.
	module, err := b.cloneRepository(ctx, "module")
	if err != nil {
		return err
	}
	b.module = module
	load, err := b.loadModule(ctx)
	if err != nil {
		return err
	}

	results := benchResults{Run: runID, Machine: machine, ModuleLoad: load}
	for _, name := range opts.targets {
		res, err := b.target(ctx, targets[name], opts)
		if !opts.keep {
			b.cleanup(name)
		}
		if err != nil {
			return fmt.Errorf("%s: %w (dagger logs in %s)", name, err, logDir)
		}
		results.Targets = append(results.Targets, res)
		if !opts.json {
			writeTargetTables(stdout, res)
		}
	}
	if opts.json {
		return writeJSON(stdout, results)
	}
	writeSummary(stdout, results)
	if opts.logDir == "" {
		os.RemoveAll(logDir)
	}
	return nil
}

// bencher is the state that the measurements of one benchmark run share.
type bencher struct {
	env    stackEnv
	root   string
	work   string
	logDir string
	runID  string
	module string
	gitea  *giteaClient
	log    *slog.Logger
	// created lists what to delete at the end, per target.
	created map[string][]cleanupFunc
}

type cleanupFunc func() error

func (b *bencher) onCleanup(target string, fn cleanupFunc) {
	if b.created == nil {
		b.created = map[string][]cleanupFunc{}
	}
	b.created[target] = append(b.created[target], fn)
}

func (b *bencher) cleanup(target string) {
	fns := b.created[target]
	for i := len(fns) - 1; i >= 0; i-- {
		if err := fns[i](); err != nil {
			b.log.Warn("clean up failed", "target", target, "err", err)
		}
	}
	delete(b.created, target)
}

// newRunID returns a name for this run that later runs do not reuse.
func newRunID() string {
	return fmt.Sprintf("%s-%04x", time.Now().UTC().Format("0102-150405"), time.Now().UnixNano()&0xffff)
}

// repositoryRoot returns the first folder at or above the working
// directory that has a dagger.json, the repository's root.
func repositoryRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the repository root: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "dagger.json")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("find the repository root: no dagger.json in %s or above: run from the repository", wd)
		}
	}
}
