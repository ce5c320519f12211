package main

import (
	"context"
	"fmt"
	"time"

	"dagger/incluster/internal/dagger"
)

// Layout of the final image.
const (
	// binaryPath is the program's path in every image, whatever its
	// name, so that the entrypoint is the same for every service. A file
	// in the root folder makes a layer with this one entry. A file in a
	// new folder such as /usr/local/bin would add the folders with the
	// time they were created, so the layer's digest would change with
	// every build.
	binaryPath = "/app"
	// nonroot is the user and group the program runs as, the nonroot
	// user of the distroless images. It is numeric so that Kubernetes'
	// runAsNonRoot can check it.
	nonroot = "65532:65532"
)

// OCI annotation keys used as image labels.
const (
	labelCreated  = "org.opencontainers.image.created"
	labelRevision = "org.opencontainers.image.revision"
	labelVersion  = "org.opencontainers.image.version"
	labelTitle    = "org.opencontainers.image.title"
)

// imageSpec lists the parts of the final image.
type imageSpec struct {
	baseImage string
	platform  dagger.Platform
	binary    *dagger.File
	name      string
	version   string
	commit    commit
}

// assemble puts the binary onto the base image. The binary's file time is
// the commit time, so that the new layer depends only on the source. The
// times in the image configuration are set in publish.
func assemble(spec imageSpec) *dagger.Container {
	binary := spec.binary.WithTimestamps(int(spec.commit.Time.Unix()))
	ctr := dag.Container(dagger.ContainerOpts{Platform: spec.platform}).
		From(spec.baseImage).
		WithFile(binaryPath, binary, dagger.ContainerWithFileOpts{Permissions: 0o755}).
		WithUser(nonroot).
		WithEntrypoint([]string{binaryPath}).
		WithoutDefaultArgs().
		WithLabel(labelTitle, spec.name).
		WithLabel(labelVersion, spec.version)
	if spec.commit.SHA != "" {
		ctr = ctr.
			WithLabel(labelRevision, spec.commit.SHA).
			WithLabel(labelCreated, spec.commit.Time.Format(time.RFC3339))
	}
	return ctr
}

// builder makes the binary and the image of one main package.
type builder struct {
	golang          golang
	baseImage       string
	versionVariable string
	commit          commit

	// Set by resolve.
	program  program
	platform dagger.Platform
}

// resolve picks the main package and the target platform.
func (b *builder) resolve(ctx context.Context, pkg string, platform dagger.Platform) error {
	var err error
	if b.platform, err = targetPlatform(ctx, platform); err != nil {
		return err
	}
	b.program, err = b.golang.findMain(ctx, pkg)
	return err
}

func (b *builder) binary(ctx context.Context, version string) (*dagger.File, error) {
	return b.golang.build(ctx, b.program, b.platform, version, b.versionVariable)
}

// image puts binary onto the base image and checks that the engine can
// assemble it.
func (b *builder) image(ctx context.Context, binary *dagger.File, version string) (*dagger.Container, error) {
	ctr := assemble(imageSpec{
		baseImage: b.baseImage,
		platform:  b.platform,
		binary:    binary,
		name:      b.program.Name,
		version:   version,
		commit:    b.commit,
	})
	if _, err := ctr.Sync(ctx); err != nil {
		return nil, fmt.Errorf("assemble image of %s on %s: %w", b.program.ImportPath, b.baseImage, err)
	}
	return ctr, nil
}

// targetPlatform returns platform, or the engine's platform when it is
// empty.
func targetPlatform(ctx context.Context, platform dagger.Platform) (dagger.Platform, error) {
	if platform != "" {
		return platform, nil
	}
	p, err := dag.DefaultPlatform(ctx)
	if err != nil {
		return "", fmt.Errorf("read the engine's platform: %w", err)
	}
	return p, nil
}
