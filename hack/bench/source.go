package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// target is a Go service that the benchmark ships.
type target struct {
	name string
	// pkg is the main package that build-and-push builds.
	pkg string
	// testPackages are the package patterns that its test step tests.
	testPackages []string
	// prepare puts the service's source into dir, which does not exist
	// yet.
	prepare func(ctx context.Context, b *bencher, dir string) error
	// editFile and editString locate the one-line change: a string
	// literal in the main package whose text gets a run label.
	editFile   string
	editString string
}

const (
	podinfoModule = "github.com/stefanprodan/podinfo"
	// podinfoVersion is the version that the e2e tests pin, so that the
	// host's module cache has it after them.
	podinfoVersion = "v1.8.1-0.20250910200901-e86405a8674e"
)

var targets = map[string]target{
	"podinfo": {
		name:         "podinfo",
		pkg:          "./cmd/podinfo",
		testPackages: []string{"./..."},
		prepare:      preparePodinfo,
		editFile:     "cmd/podinfo/main.go",
		editString:   `"Host to bind service to`,
	},
	"incluster": {
		name: "incluster",
		pkg:  "./cmd/incluster",
		// NOTE: the tests of cmd/incluster, pipeline/writeback and
		// hack/mirror need the git CLI or a host toolchain that the
		// stack's Go image lacks, so they are left out.
		testPackages: []string{
			"./pipeline/cireport", "./pipeline/kubesecret", "./pipeline/manifest",
			"./pipeline/registry", "./pipeline/rollout", "./pipeline/tag",
		},
		prepare: func(ctx context.Context, b *bencher, dir string) error {
			return b.cloneInto(ctx, dir)
		},
		editFile:   "cmd/incluster/main.go",
		editString: `"print the program's version`,
	},
}

func targetNames() []string {
	names := make([]string, 0, len(targets))
	for name := range targets {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// preparePodinfo copies podinfo from the host's module cache into dir.
func preparePodinfo(ctx context.Context, b *bencher, dir string) error {
	out, err := command(ctx, "", nil, "go", "mod", "download", "-json", podinfoModule+"@"+podinfoVersion)
	if err != nil {
		return err
	}
	var module struct{ Dir, Error string }
	if err := json.Unmarshal(out, &module); err != nil {
		return fmt.Errorf("parse go mod download output: %w", err)
	}
	if module.Error != "" || module.Dir == "" {
		return fmt.Errorf("download %s@%s: %s", podinfoModule, podinfoVersion, module.Error)
	}
	// CopyFS makes the copies writable, unlike the module cache.
	if err := os.CopyFS(dir, os.DirFS(module.Dir)); err != nil {
		return fmt.Errorf("copy %s: %w", module.Dir, err)
	}
	return nil
}

// cloneRepository clones the last commit of this repository into a new
// folder of the work folder and downloads the modules that it and its
// Dagger module need, so that the stack's module proxy serves them.
func (b *bencher) cloneRepository(ctx context.Context, name string) (string, error) {
	dir := filepath.Join(b.work, name)
	if err := b.cloneInto(ctx, dir); err != nil {
		return "", err
	}
	if _, err := command(ctx, filepath.Join(dir, ".dagger"), nil, "go", "mod", "download"); err != nil {
		return "", err
	}
	return dir, nil
}

func (b *bencher) cloneInto(ctx context.Context, dir string) error {
	_, err := command(ctx, "", nil, "git", "clone", "--quiet", "--depth", "1", "file://"+b.root, dir)
	if err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(dir, ".git"))
}

// source is a target's source folder, a git repository of one branch.
type source struct {
	dir    string
	commit string
}

// prepareSource puts the target's source into a new folder, downloads its
// modules on the host (for the stack's module proxy) and commits it with
// the change labelled label.
func (b *bencher) prepareSource(ctx context.Context, t target, label string) (source, error) {
	dir := filepath.Join(b.work, t.name)
	if err := t.prepare(ctx, b, dir); err != nil {
		return source{}, err
	}
	if _, err := command(ctx, dir, nil, "go", "mod", "download"); err != nil {
		return source{}, err
	}
	if _, err := command(ctx, dir, nil, "git", "init", "--quiet", "--initial-branch", "main"); err != nil {
		return source{}, err
	}
	return b.change(ctx, t, source{dir: dir}, label)
}

// change makes the target's one-line change with label and commits it.
// Each label gives another binary, so that no run finds its binary layer
// in the registry already.
func (b *bencher) change(ctx context.Context, t target, src source, label string) (source, error) {
	file := filepath.Join(src.dir, t.editFile)
	data, err := os.ReadFile(file)
	if err != nil {
		return src, fmt.Errorf("change %s: %w", t.editFile, err)
	}
	edited, err := editLine(string(data), t.editString, label)
	if err != nil {
		return src, fmt.Errorf("change %s: %w", t.editFile, err)
	}
	if err := os.WriteFile(file, []byte(edited), 0o644); err != nil {
		return src, fmt.Errorf("change %s: %w", t.editFile, err)
	}
	env := gitEnv(time.Now())
	if _, err := command(ctx, src.dir, env, "git", "add", "-A"); err != nil {
		return src, err
	}
	if _, err := command(ctx, src.dir, env, "git", "commit", "--quiet", "--no-gpg-sign", "-m", "Benchmark run "+label); err != nil {
		return src, err
	}
	out, err := command(ctx, src.dir, env, "git", "rev-parse", "HEAD")
	if err != nil {
		return src, err
	}
	src.commit = strings.TrimSpace(string(out))
	return src, nil
}

// editLine finds the one line that contains literal, the opening of a
// string literal, and inserts " [label]" after it. A label from an
// earlier edit is replaced.
func editLine(text, literal, label string) (string, error) {
	lines := strings.SplitAfter(text, "\n")
	found := -1
	for i, line := range lines {
		if strings.Contains(line, literal) {
			if found >= 0 {
				return "", fmt.Errorf("%s occurs on lines %d and %d: expected one", literal, found+1, i+1)
			}
			found = i
		}
	}
	if found < 0 {
		return "", fmt.Errorf("no line contains %s", literal)
	}
	line := lines[found]
	start := strings.Index(line, literal) + len(literal)
	rest := line[start:]
	if strings.HasPrefix(rest, " [") {
		if end := strings.Index(rest, "]"); end >= 0 {
			rest = rest[end+1:]
		}
	}
	lines[found] = line[:start] + " [" + label + "]" + rest
	return strings.Join(lines, ""), nil
}

// gitEnv isolates git from the user's configuration and dates the commit.
func gitEnv(at time.Time) []string {
	date := at.UTC().Format(time.RFC3339)
	return []string{
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=incluster bench", "GIT_AUTHOR_EMAIL=bench@example.invalid", "GIT_AUTHOR_DATE=" + date,
		"GIT_COMMITTER_NAME=incluster bench", "GIT_COMMITTER_EMAIL=bench@example.invalid", "GIT_COMMITTER_DATE=" + date,
	}
}

// command runs name with args in dir, with env added to this process's
// environment and GOTOOLCHAIN=local, and returns its standard output. The
// error carries the standard error.
func command(ctx context.Context, dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOTOOLCHAIN=local"), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}
