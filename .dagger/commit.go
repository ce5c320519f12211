package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5"

	"dagger/incluster/internal/dagger"
)

// commit is the git commit that a source folder was checked out at.
type commit struct {
	// SHA is the full commit hash, empty when the source has no .git
	// folder.
	SHA string
	// Time is the committer time, as git log --format=%ct shows it.
	// Without a commit it is the Unix epoch, so that builds of the same
	// source still get the same digest.
	Time time.Time
}

// readCommit reads HEAD's commit from the .git folder of source with
// go-git. A source without a .git folder has no commit, which is not an
// error. A shallow clone, as actions/checkout makes, is enough.
//
// NOTE: uncommitted changes in the source are built but not detected, so
// the image's revision label then names a commit that differs from what
// was built.
func readCommit(ctx context.Context, source *dagger.Directory) (commit, error) {
	none := commit{Time: time.Unix(0, 0).UTC()}
	isDir, err := source.Exists(ctx, ".git", dagger.DirectoryExistsOpts{ExpectedType: dagger.ExistsTypeDirectoryType})
	if err != nil {
		return none, fmt.Errorf("read .git: %w", err)
	}
	if !isDir {
		return none, nil
	}

	tmp, err := os.MkdirTemp("", "incluster-git-")
	if err != nil {
		return none, fmt.Errorf("read .git: %w", err)
	}
	defer os.RemoveAll(tmp)
	// Export writes into this function's own container, not the caller's
	// host.
	if _, err := source.Directory(".git").Export(ctx, filepath.Join(tmp, ".git")); err != nil {
		return none, fmt.Errorf("read .git: export: %w", err)
	}

	repo, err := git.PlainOpen(tmp)
	if err != nil {
		return none, fmt.Errorf("read .git: %w", err)
	}
	head, err := repo.Head()
	if err != nil {
		return none, fmt.Errorf("read .git: HEAD: %w", err)
	}
	obj, err := repo.CommitObject(head.Hash())
	if err != nil {
		return none, fmt.Errorf("read .git: commit %s: %w", head.Hash(), err)
	}
	return commit{SHA: obj.Hash.String(), Time: obj.Committer.When.UTC()}, nil
}
