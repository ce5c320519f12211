package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// sourceCommitDate is the author and committer date of the service's
// commit. A fixed date and author give the same commit hash, and so the
// same image tag, on every run.
const sourceCommitDate = "2025-01-02T03:04:05Z"

// makeSource copies the service folder to dst and makes it a git
// repository with one commit on main, as a checkout of the service's
// repository would be.
func makeSource(ctx context.Context, service, dst string) error {
	err := filepath.WalkDir(service, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(service, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		return fmt.Errorf("copy service %s: %w", service, err)
	}

	env := append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=incluster", "GIT_AUTHOR_EMAIL=incluster@example.com",
		"GIT_COMMITTER_NAME=incluster", "GIT_COMMITTER_EMAIL=incluster@example.com",
		"GIT_AUTHOR_DATE="+sourceCommitDate, "GIT_COMMITTER_DATE="+sourceCommitDate,
	)
	for _, args := range [][]string{
		{"init", "--quiet", "--initial-branch", "main"},
		{"add", "--all"},
		{"commit", "--quiet", "--no-gpg-sign", "--message", "Add the hello service"},
	} {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dst
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s in %s failed: %w: %s", args[0], dst, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// downloadModules fills the host's Go module cache with the modules that
// the Dagger module and the root module it imports need. The stack's
// module proxy serves that cache to the engine, which has no other way
// to reach modules.
func downloadModules(ctx context.Context, module string) error {
	for _, dir := range []string{module, filepath.Join(module, ".dagger")} {
		cmd := exec.CommandContext(ctx, "go", "mod", "download")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go mod download in %s failed: %w: %s", dir, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
