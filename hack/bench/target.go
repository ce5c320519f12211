package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/incluster/incluster/pipeline/tag"
)

// targetResult contains the measurements of one target.
type targetResult struct {
	Target       string   `json:"target"`
	Package      string   `json:"package"`
	TestPackages []string `json:"testPackages"`
	CacheKey     string   `json:"cacheKey"`
	// Runs are the build-and-push calls in order: cold (or first), warm
	// after the one-line change, then unchanged, the same commit again.
	Runs     []pipelineRun `json:"runs"`
	Baseline baseline      `json:"baseline"`
	// Image compares the warm run's image with its base.
	Image imageSizes `json:"image"`
}

// warm returns the run after the change.
func (r targetResult) warm() pipelineRun {
	for _, run := range r.Runs {
		if run.Name == "warm" {
			return run
		}
	}
	return pipelineRun{}
}

// Ratio returns the warm run's total over the baseline's.
func (r targetResult) Ratio() float64 {
	return ratio(r.warm().Total, r.Baseline.Total())
}

// RatioWithoutTest returns the warm run's total without its test step
// over the baseline's, which runs no tests.
func (r targetResult) RatioWithoutTest() float64 {
	w := r.warm()
	return ratio(w.Total-w.step("test"), r.Baseline.Total())
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// target measures one target: a cold run, a warm run after the one-line
// change, the baseline, and the image.
func (b *bencher) target(ctx context.Context, t target, opts options) (targetResult, error) {
	res := targetResult{Target: t.name, Package: t.pkg, TestPackages: t.testPackages}
	app := "bench-" + t.name + "-" + b.runID
	repo := manifestRepo{owner: b.env.GiteaUser, name: app, path: "app/deployment.yaml", app: app}
	image := b.env.ClusterGitea + "/" + b.env.GiteaUser + "/" + app
	if err := b.gitea.createManifestRepo(repo.owner, repo.name, repo.path, image); err != nil {
		return res, err
	}
	b.onCleanup(t.name, func() error { return b.gitea.deleteRepo(repo.owner, repo.name) })
	b.onCleanup(t.name, func() error { return b.gitea.deleteImage(repo.owner, repo.app) })

	b.log.Info("preparing the source", "target", t.name)
	src, err := b.prepareSource(ctx, t, "cold "+b.runID)
	if err != nil {
		return res, err
	}
	// Fill the host's build cache with the source before the change, as
	// the cold run fills the engine's.
	if err := goBuild(ctx, t, src, "warmup", filepath.Join(b.work, t.name+"-warmup")); err != nil {
		return res, err
	}

	first := "cold"
	res.CacheKey = "bench-" + b.runID + "-" + t.name
	if !opts.cold {
		first = "first"
		res.CacheKey = "bench-" + t.name
	}
	cold, err := b.buildAndPush(ctx, first, t, src, repo, res.CacheKey, true)
	if err != nil {
		return res, err
	}
	res.Runs = append(res.Runs, cold)

	if src, err = b.change(ctx, t, src, "warm "+b.runID); err != nil {
		return res, err
	}
	warm, err := b.buildAndPush(ctx, "warm", t, src, repo, res.CacheKey, true)
	if err != nil {
		return res, err
	}
	res.Runs = append(res.Runs, warm)

	// The same commit again pushes no layer and commits nothing, so its
	// time is the pipeline's fixed cost.
	again, err := b.buildAndPush(ctx, "unchanged", t, src, repo, res.CacheKey, false)
	if err != nil {
		return res, err
	}
	res.Runs = append(res.Runs, again)

	b.log.Info("measuring the baseline", "target", t.name)
	if res.Baseline, err = b.measureBaseline(ctx, t, src, repo, warm.Tag); err != nil {
		return res, err
	}
	_, digest, ok := strings.Cut(warm.Ref, "@")
	if !ok {
		return res, fmt.Errorf("the warm run's reference %q has no digest", warm.Ref)
	}
	if res.Image, err = b.measureImage(ctx, repo, digest); err != nil {
		return res, err
	}
	return res, nil
}

func shortSHA(commit string) (string, error) {
	return tag.FromCommit(commit, tag.DefaultShortLength)
}
