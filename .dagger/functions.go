package main

import (
	"context"
	"fmt"

	"dagger/incluster/internal/dagger"
)

// Runs go test -trimpath on the source and returns its output.
//
// A failing test fails the call, with the output in the error.
func (m *Incluster) Test(
	ctx context.Context,
	// Go module folder to test, such as . for the current folder.
	// +ignore=[".dagger", "**/node_modules", "**/*.test", "**/.DS_Store"]
	source *dagger.Directory,
	// Package patterns to test.
	// +default=["./..."]
	packages []string,
	// Run the tests with the race detector, which needs cgo and a C compiler in the Go image.
	// +optional
	race bool,
	// Image with the Go toolchain that runs go test.
	// +default="golang:1.26.8"
	goImage string,
	// GOPROXY for module downloads, such as an in-cluster module proxy.
	// +default="https://proxy.golang.org"
	goproxy string,
	// GOSUMDB for module downloads. Empty keeps the Go image's setting, and "off" turns checksum database lookups off.
	// +optional
	gosumdb string,
) (string, error) {
	return newGolang(source, goImage, goproxy, gosumdb).test(ctx, packages, race)
}

// Compiles a main package statically with -trimpath and returns the binary.
//
// The version is stamped in through -ldflags -X.
func (m *Incluster) Build(
	ctx context.Context,
	// Go module folder to build, such as . for the current folder.
	// +ignore=[".dagger", "**/node_modules", "**/*.test", "**/.DS_Store"]
	source *dagger.Directory,
	// Main package to build, such as ./cmd/app. Empty means the only main package under ./cmd/.
	// +optional
	pkg string,
	// Target platform, such as linux/arm64. Empty means the engine's platform.
	// +optional
	platform dagger.Platform,
	// Version stamped into the binary.
	// +default="devel"
	version string,
	// Package variable that receives the version through -ldflags -X. Empty stamps nothing.
	// +default="main.version"
	versionVariable string,
	// Image with the Go toolchain that runs go build.
	// +default="golang:1.26.8"
	goImage string,
	// GOPROXY for module downloads, such as an in-cluster module proxy.
	// +default="https://proxy.golang.org"
	goproxy string,
	// GOSUMDB for module downloads. Empty keeps the Go image's setting, and "off" turns checksum database lookups off.
	// +optional
	gosumdb string,
) (*dagger.File, error) {
	g := newGolang(source, goImage, goproxy, gosumdb)
	platform, err := targetPlatform(ctx, platform)
	if err != nil {
		return nil, err
	}
	program, err := g.findMain(ctx, pkg)
	if err != nil {
		return nil, err
	}
	return g.build(ctx, program, platform, version, versionVariable)
}

// Builds the service's image on a distroless static base.
//
// The binary comes from a Go builder stage and runs as /app with user
// 65532. Its OCI labels name the title and the version and, from the
// source's .git folder, the revision and the commit time.
func (m *Incluster) Image(
	ctx context.Context,
	// Go module folder to build, such as . for the current folder. Its .git folder gives the revision and creation labels.
	// +ignore=[".dagger", "**/node_modules", "**/*.test", "**/.DS_Store"]
	source *dagger.Directory,
	// Main package to build, such as ./cmd/app. Empty means the only main package under ./cmd/.
	// +optional
	pkg string,
	// Target platform, such as linux/arm64. Empty means the engine's platform.
	// +optional
	platform dagger.Platform,
	// Version stamped into the binary and the version label. Empty means the commit's short SHA, or "devel" without a .git folder.
	// +optional
	version string,
	// Package variable that receives the version through -ldflags -X. Empty stamps nothing.
	// +default="main.version"
	versionVariable string,
	// Image with the Go toolchain that runs go build.
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
) (*dagger.Container, error) {
	c, err := readCommit(ctx, source)
	if err != nil {
		return nil, err
	}
	if version == "" {
		version = "devel"
		if c.SHA != "" {
			version = c.SHA[:7]
		}
	}
	b := builder{
		golang:          newGolang(source, goImage, goproxy, gosumdb),
		baseImage:       baseImage,
		versionVariable: versionVariable,
		commit:          c,
	}
	if err := b.resolve(ctx, pkg, platform); err != nil {
		return nil, err
	}
	binary, err := b.binary(ctx, version)
	if err != nil {
		return nil, err
	}
	return b.image(ctx, binary, version)
}

// Builds the image, pushes it and returns the reference with its digest.
//
// It pushes to REGISTRY/OWNER/APP:TAG with go-containerregistry. It
// rejects moving a tag that points at another digest unless --overwrite
// is set.
func (m *Incluster) Publish(
	ctx context.Context,
	// Go module folder to build, such as . for the current folder. Its .git folder gives the commit for the tag and the labels.
	// +ignore=[".dagger", "**/node_modules", "**/*.test", "**/.DS_Store"]
	source *dagger.Directory,
	// Registry host and port, such as gitea-http.gitea.svc.cluster.local:3000.
	registry string,
	// Gitea user or organization that owns the image.
	owner string,
	// Image name.
	app string,
	// User name for the registry.
	username string,
	// Registry token. Gitea needs the write:package scope.
	token *dagger.Secret,
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
	// Main package to build, such as ./cmd/app. Empty means the only main package under ./cmd/.
	// +optional
	pkg string,
	// Target platform, such as linux/arm64. Empty means the engine's platform.
	// +optional
	platform dagger.Platform,
	// Package variable that receives the tag through -ldflags -X. Empty stamps nothing.
	// +default="main.version"
	versionVariable string,
	// Image with the Go toolchain that runs go build.
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
) (string, error) {
	plaintext, err := readToken(ctx, token)
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	dest := destination{
		registry: registry, owner: owner, app: app,
		username: username, token: plaintext, plainHTTP: plainHttp,
		log: logger(),
	}
	if err := dest.validate(); err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}

	c, err := readCommit(ctx, source)
	if err != nil {
		return "", err
	}
	t, err := deriveTag(ctx, tag, tagScheme, c, dest)
	if err != nil {
		return "", fmt.Errorf("derive tag: %w", err)
	}

	b := builder{
		golang:          newGolang(source, goImage, goproxy, gosumdb),
		baseImage:       baseImage,
		versionVariable: versionVariable,
		commit:          c,
	}
	if err := b.resolve(ctx, pkg, platform); err != nil {
		return "", err
	}
	binary, err := b.binary(ctx, t)
	if err != nil {
		return "", err
	}
	ctr, err := b.image(ctx, binary, t)
	if err != nil {
		return "", err
	}

	res, err := push(ctx, ctr, c.Time, dest, dest.repository()+":"+t, overwrite)
	if err != nil {
		return "", err
	}
	return res.Reference, nil
}

// Rewrites an image reference in a Gitea manifest and commits it.
//
// It returns the commit SHA. It returns an empty string, and commits
// nothing, when the manifest already has the reference.
func (m *Incluster) Bump(
	ctx context.Context,
	// Gitea's base URL, such as http://gitea-http.gitea.svc.cluster.local:3000.
	giteaUrl string,
	// Gitea token with the write:repository scope.
	token *dagger.Secret,
	// Manifest repository, OWNER/REPO.
	manifestRepo string,
	// Manifest file in the repository, such as app/deployment.yaml.
	manifestPath string,
	// Image reference to write, REGISTRY/OWNER/APP:TAG@sha256:....
	ref string,
	// Image repository as the manifest names it. Empty means the repository of --ref.
	// +optional
	manifestImage string,
	// Branch that receives the commit.
	// +default="main"
	branch string,
	// Web address of the pipeline run, added to the commit message as a Pipeline-Run trailer.
	// +optional
	runUrl string,
) (string, error) {
	parsed, err := parseReference(ref)
	if err != nil {
		return "", fmt.Errorf("bump: %w", err)
	}
	plaintext, err := readToken(ctx, token)
	if err != nil {
		return "", fmt.Errorf("bump: %w", err)
	}
	res, err := bump(ctx, manifestTarget{
		giteaURL: giteaUrl, token: plaintext,
		repository: manifestRepo, path: manifestPath, branch: branch,
		image: manifestImage, runURL: runUrl, log: logger(),
	}, parsed)
	if err != nil {
		return "", err
	}
	return res.Commit, nil
}
