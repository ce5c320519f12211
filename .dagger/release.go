package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/incluster/incluster/pipeline/cireport"

	"dagger/incluster/internal/dagger"
)

// Release is the outcome of build-and-push: the pushed image and the
// manifest commit.
type Release struct {
	// Pushed image reference with its digest, REGISTRY/OWNER/APP:TAG@sha256:....
	Ref string
	// Image manifest digest, sha256:....
	Digest string
	// Pushed tag.
	Tag string
	// Manifest repository commit that bumped the image, empty when the manifest already had it.
	Commit string
	// Rollout's one-line result with each workload's state, empty without --wait-rollout.
	Rollout string

	// The run's report as JSON: the result and each step's name and duration in nanoseconds (pipeline/cireport.Report).
	ReportJSON string
	// The push's result as JSON: every blob with its size and the bytes uploaded for it (pipeline/registry.Result).
	PushJSON string
	// Folder with the run's results. outputs and summary.md are in GitHub Actions' formats, for $GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY. release.json has ref, digest, tag, commit and rollout, and report.json and push.json have ReportJSON and PushJSON.
	Report *dagger.Directory
}

// Names of the report folder's JSON files.
const (
	// releaseFile has ref, digest, tag and commit.
	releaseFile = "release.json"
	// reportFile has ReportJSON, with each step's duration.
	reportFile = "report.json"
	// pushFile has PushJSON, with the bytes uploaded per blob.
	pushFile = "push.json"
)

// reportDirectory builds the Report folder. It is a field rather than a
// function, because the engine serves a field without starting the
// module's function container again, which took 0.5 to 1.6 s per call.
func (r *Release) reportDirectory() (*dagger.Directory, error) {
	var rep cireport.Report
	if err := json.Unmarshal([]byte(r.ReportJSON), &rep); err != nil {
		return nil, fmt.Errorf("read the run's report: %w", err)
	}

	tmp, err := os.MkdirTemp("", "incluster-report-")
	if err != nil {
		return nil, fmt.Errorf("export the run's report: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := cireport.Export(tmp, rep); err != nil {
		return nil, err
	}

	dir := dag.Directory()
	for _, name := range []string{cireport.OutputsFile, cireport.SummaryFile} {
		data, err := os.ReadFile(filepath.Join(tmp, name))
		if err != nil {
			return nil, fmt.Errorf("export the run's report: %w", err)
		}
		dir = dir.WithNewFile(name, string(data))
	}

	release, err := json.MarshalIndent(map[string]string{
		"ref": r.Ref, "digest": r.Digest, "tag": r.Tag, "commit": r.Commit, "rollout": r.Rollout,
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("export the run's report: %w", err)
	}
	dir = dir.WithNewFile(releaseFile, string(release)+"\n")
	if r.PushJSON != "" {
		dir = dir.WithNewFile(pushFile, r.PushJSON+"\n")
	}
	return dir.WithNewFile(reportFile, r.ReportJSON+"\n"), nil
}

// step is one named step of build-and-push, as the report lists it.
type step struct {
	name string
	run  func(ctx context.Context) error
}

// Tests, builds and pushes the image, then bumps it in a Gitea manifest.
//
// The bump is a commit to the manifest repository. With --wait-rollout, a
// last step waits until the cluster runs the pushed image, as
// wait-rollout does. It stops at the first failing step and names it in
// the error: nothing is pushed when the tests fail, and nothing is
// committed when the push fails.
func (m *Incluster) BuildAndPush(
	ctx context.Context,
	// Go module folder to test and build, such as . for the current folder. Its .git folder gives the commit for the tag and the labels.
	// +ignore=[".dagger", "**/node_modules", "**/*.test", "**/.DS_Store"]
	source *dagger.Directory,
	// Registry host and port, such as gitea-http.gitea.svc.cluster.local:3000.
	registry string,
	// Gitea user or organization that owns the image.
	owner string,
	// Image name.
	app string,
	// Gitea user of the token.
	username string,
	// Gitea token with the write:package and write:repository scopes.
	token *dagger.Secret,
	// Manifest repository in Gitea, OWNER/REPO.
	manifestRepo string,
	// Manifest file in the repository whose image reference is bumped, such as app/deployment.yaml.
	manifestPath string,
	// Gitea's base URL, such as http://gitea-http.gitea.svc.cluster.local:3000.
	giteaUrl string,
	// Tag to push. Empty derives one by --tag-scheme.
	// +optional
	tag string,
	// How to derive the tag: "sha" (the commit's short SHA) or "semver" (the next version after the highest in the registry).
	// +default="sha"
	tagScheme string,
	// Move the tag even when it points at another digest.
	// +optional
	overwrite bool,
	// Reach the registry over plain HTTP when HTTPS fails. Hosts ending in .local (Kubernetes service names), localhost and private addresses get this without the flag.
	// +optional
	plainHttp bool,
	// Image repository as the manifest names it. Empty means REGISTRY/OWNER/APP.
	// +optional
	manifestImage string,
	// Branch of the manifest repository that receives the commit.
	// +default="main"
	branch string,
	// Web address of the pipeline run, added to the commit message as a Pipeline-Run trailer.
	// +optional
	runUrl string,
	// Main package to build, such as ./cmd/app. Empty means the only main package under ./cmd/.
	// +optional
	pkg string,
	// Target platform, such as linux/arm64. Empty means the engine's platform.
	// +optional
	platform dagger.Platform,
	// Package variable that receives the tag through -ldflags -X. Empty stamps nothing.
	// +default="main.version"
	versionVariable string,
	// Package patterns to test.
	// +default=["./..."]
	testPackages []string,
	// Run the tests with the race detector, which needs cgo and a C compiler in the Go image.
	// +optional
	race bool,
	// Image with the Go toolchain that runs go test and go build.
	// +default="golang:1.26.8"
	goImage string,
	// Base image of the final stage.
	// +default="gcr.io/distroless/static-debian12:nonroot"
	baseImage string,
	// GOPROXY for module downloads, such as an in-cluster module proxy.
	// +default="https://proxy.golang.org"
	goproxy string,
	// GOSUMDB for module downloads. Empty keeps the Go image's setting, and "off" turns checksum database lookups off.
	// +optional
	gosumdb string,
	// Suffix of the names of the Go module and build cache volumes. Calls with different keys share no cached downloads or build results, as a cold-cache benchmark needs.
	// +optional
	cacheKey string,
	// Wait, as a last step, until the workloads that use the image's repository run the pushed image (see wait-rollout).
	// +optional
	waitRollout bool,
	// Kubeconfig file contents for --wait-rollout, such as file:$HOME/.kube/config. Without it, the step uses the in-cluster config.
	// +optional
	kubeconfig *dagger.Secret,
	// Namespace of the workloads for --wait-rollout. Empty means the kubeconfig context's namespace, or the pod's.
	// +optional
	rolloutNamespace string,
	// How long --wait-rollout waits, as a Go duration such as 90s or 10m.
	// +default="5m"
	rolloutTimeout string,
) (*Release, error) {
	if !waitRollout && (kubeconfig != nil || rolloutNamespace != "") {
		return nil, errors.New("build-and-push: --kubeconfig and --rollout-namespace need --wait-rollout")
	}
	if tag != "" {
		// Checked before the test step, so that a wrong tag fails in
		// seconds.
		if err := checkTag(tag); err != nil {
			return nil, fmt.Errorf("build-and-push: --tag: %w", err)
		}
	}
	if _, err := parseTimeout(rolloutTimeout); err != nil {
		return nil, fmt.Errorf("build-and-push: --rollout-timeout: %w", err)
	}

	plaintext, err := readToken(ctx, token)
	if err != nil {
		return nil, fmt.Errorf("build-and-push: %w", err)
	}
	reporter := cireport.New(os.Stderr)
	reporter.Mask(plaintext)
	log := slog.New(slog.NewTextHandler(reporter.Writer(), nil))

	dest := destination{
		registry: registry, owner: owner, app: app,
		username: username, token: plaintext, plainHTTP: plainHttp,
		log: log,
	}
	if err := dest.validate(); err != nil {
		return nil, fmt.Errorf("build-and-push: %w", err)
	}
	target := manifestTarget{
		giteaURL: giteaUrl, token: plaintext,
		repository: manifestRepo, path: manifestPath, branch: branch,
		image: manifestImage, runURL: runUrl, log: log,
	}
	// NOTE: the checks above read no server. A token that the registry or
	// Gitea rejects, or a missing manifest repository, fails only at the
	// publish or bump step, after the tests and the build.
	if err := target.validate(); err != nil {
		return nil, fmt.Errorf("build-and-push: %w", err)
	}
	b := builder{
		golang:          newGolang(source, goImage, goproxy, gosumdb),
		baseImage:       baseImage,
		versionVariable: versionVariable,
	}
	b.golang.cacheKey = cacheKey

	var (
		release Release
		binary  *dagger.File
		ctr     *dagger.Container
		diff    string
	)
	steps := []step{
		{"test", func(ctx context.Context) error {
			_, err := b.golang.test(ctx, testPackages, race)
			return err
		}},
		{"tag", func(ctx context.Context) error {
			c, err := readCommit(ctx, source)
			if err != nil {
				return err
			}
			b.commit = c
			release.Tag, err = deriveTag(ctx, tag, tagScheme, c, dest)
			return err
		}},
		{"build", func(ctx context.Context) error {
			if err := b.resolve(ctx, pkg, platform); err != nil {
				return err
			}
			var err error
			binary, err = b.binary(ctx, release.Tag)
			return err
		}},
		{"image", func(ctx context.Context) error {
			var err error
			ctr, err = b.image(ctx, binary, release.Tag)
			return err
		}},
		{"publish", func(ctx context.Context) error {
			res, err := push(ctx, ctr, b.commit.Time, dest, dest.repository()+":"+release.Tag, overwrite)
			if err != nil {
				return err
			}
			release.Ref, release.Digest = res.Reference, res.Digest
			data, err := json.Marshal(res)
			if err != nil {
				return fmt.Errorf("store the push result: %w", err)
			}
			release.PushJSON = string(data)
			return nil
		}},
		{"bump", func(ctx context.Context) error {
			ref, err := parseReference(release.Ref)
			if err != nil {
				return err
			}
			res, err := bump(ctx, target, ref)
			if err != nil {
				return err
			}
			release.Commit, diff = res.Commit, manifestDiff(ctx, target, res)
			return nil
		}},
	}
	if waitRollout {
		wait := rolloutTarget{kubeconfig: kubeconfig, namespace: rolloutNamespace, timeout: rolloutTimeout, log: log}
		steps = append(steps, step{"rollout", func(ctx context.Context) error {
			var err error
			release.Rollout, err = wait.wait(ctx, release.Ref)
			return err
		}})
	}
	for _, step := range steps {
		if err := reporter.Step(ctx, step.name, step.run); err != nil {
			return nil, fmt.Errorf("build-and-push: %s step failed: %w", step.name, err)
		}
	}

	rep, err := reporter.Publish(cireport.Result{
		Image:        release.Ref,
		Digest:       release.Digest,
		Commit:       release.Commit,
		ManifestDiff: diff,
	})
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(rep)
	if err != nil {
		return nil, fmt.Errorf("store the run's report: %w", err)
	}
	release.ReportJSON = string(data)
	if release.Report, err = release.reportDirectory(); err != nil {
		return nil, err
	}
	return &release, nil
}
