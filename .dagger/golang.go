package main

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"dagger/incluster/internal/dagger"
)

// Paths inside the builder container.
const (
	sourceDir  = "/src"
	modCache   = "/go/pkg/mod"
	buildCache = "/root/.cache/go-build"
	outputFile = "/out/app"
)

// maxOutput bounds the go command output that an error carries, in bytes.
// The tail is kept, because go test ends with the failures and the summary.
const maxOutput = 64 << 10

// golang runs go commands on a source folder in containers of a Go image.
// The module and build caches are cache volumes shared by every call, so
// a second run after a small change rebuilds only what changed.
type golang struct {
	// source is the Go module without its .git folder, so that a new
	// commit alone does not invalidate the go commands' cached results.
	source  *dagger.Directory
	image   string
	goproxy string
	gosumdb string
	// cacheKey, when set, is appended to the cache volume names.
	cacheKey string
}

func newGolang(source *dagger.Directory, image, goproxy, gosumdb string) golang {
	return golang{
		source:  source.WithoutDirectory(".git"),
		image:   image,
		goproxy: goproxy,
		gosumdb: gosumdb,
	}
}

// container returns the Go image with the source at /src and the caches
// mounted. A vendor/ folder in the source is used as the go command uses
// it by default: with vendor/modules.txt and a go.mod at go 1.14 or later,
// packages come from vendor/ and nothing is downloaded.
func (g golang) container() *dagger.Container {
	modVolume, buildVolume := "incluster-go-mod", "incluster-go-build"
	if g.cacheKey != "" {
		modVolume += "-" + g.cacheKey
		buildVolume += "-" + g.cacheKey
	}
	ctr := dag.Container().
		From(g.image).
		WithMountedCache(modCache, dag.CacheVolume(modVolume)).
		WithMountedCache(buildCache, dag.CacheVolume(buildVolume)).
		WithEnvVariable("GOMODCACHE", modCache).
		WithEnvVariable("GOCACHE", buildCache).
		// A go.mod that requires a newer Go fails instead of downloading
		// a toolchain, which an air-gapped cluster could not do anyway.
		WithEnvVariable("GOTOOLCHAIN", "local").
		WithEnvVariable("GOPROXY", g.goproxy).
		WithEnvVariable("GOFLAGS", "-buildvcs=false").
		WithMountedDirectory(sourceDir, g.source).
		WithWorkdir(sourceDir)
	if g.gosumdb != "" {
		ctr = ctr.WithEnvVariable("GOSUMDB", g.gosumdb)
	}
	return ctr
}

// run runs the go command args in ctr and returns its standard output and
// standard error. A non-zero exit returns an error that carries both.
func run(ctx context.Context, ctr *dagger.Container, args []string) (string, error) {
	ctr = ctr.WithExec(args, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	stdout, err := ctr.Stdout(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: read standard output: %w", strings.Join(args, " "), err)
	}
	stderr, err := ctr.Stderr(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: read standard error: %w", strings.Join(args, " "), err)
	}
	output := stdout + stderr
	if code != 0 {
		return output, fmt.Errorf("%s failed with exit code %d:\n%s", strings.Join(args, " "), code, tail(output))
	}
	return output, nil
}

func tail(s string) string {
	if len(s) <= maxOutput {
		return s
	}
	return "[first bytes cut]\n" + s[len(s)-maxOutput:]
}

// checkModule checks that the source folder has a go.mod, so that a wrong
// --source fails with that reason rather than with go command errors.
func (g golang) checkModule(ctx context.Context) error {
	ok, err := g.source.Exists(ctx, "go.mod")
	if err != nil {
		return fmt.Errorf("read --source: %w", err)
	}
	if !ok {
		return errors.New("--source has no go.mod: pass the folder of a Go module, such as --source=.")
	}
	return nil
}

// test runs go test on packages and returns its output.
//
// It passes -trimpath, as build does, so that a later build reuses the
// packages compiled here from the build cache: with different flags, a
// cold build-and-push of cmd/incluster compiled every package twice (149 s
// in go test, then 183 s in go build).
// NOTE: with -trimpath, runtime.Caller reports import paths rather than
// file system paths. A test that opens files next to its source through
// it fails, and gotest.tools' assert prints no source expression.
// Relative paths such as testdata/ work.
func (g golang) test(ctx context.Context, packages []string, race bool) (string, error) {
	if err := g.checkModule(ctx); err != nil {
		return "", err
	}
	ctr := g.container().WithEnvVariable("CGO_ENABLED", "0")
	args := []string{"go", "test", "-trimpath"}
	if race {
		// The race detector needs cgo and so a C compiler in the Go image.
		ctr = ctr.WithEnvVariable("CGO_ENABLED", "1")
		args = append(args, "-race")
	}
	args = append(args, packages...)
	return run(ctx, ctr, args)
}

// program is a main package chosen for go build.
type program struct {
	// ImportPath is the package's import path, which go build accepts.
	ImportPath string
	// Name is the last element of ImportPath, the program's name.
	Name string
}

// findMain resolves pkg to a main package. An empty pkg means the only
// main package under ./cmd/. go list -find does not load dependencies,
// so it downloads nothing.
func (g golang) findMain(ctx context.Context, pkg string) (program, error) {
	if err := g.checkModule(ctx); err != nil {
		return program{}, err
	}
	pattern := pkg
	if pattern == "" {
		pattern = "./cmd/..."
	}
	out, err := run(ctx, g.container(), []string{"go", "list", "-find", "-f", "{{.Name}} {{.ImportPath}}", pattern})
	if err != nil {
		return program{}, fmt.Errorf("find package %s: %w", pattern, err)
	}
	var mains []string
	for line := range strings.Lines(out) {
		name, importPath, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && name == "main" {
			mains = append(mains, importPath)
		}
	}
	switch {
	case len(mains) == 1:
		return program{ImportPath: mains[0], Name: path.Base(mains[0])}, nil
	case pkg != "":
		return program{}, fmt.Errorf("find package %s: not a main package", pkg)
	case len(mains) == 0:
		return program{}, fmt.Errorf("find package %s: no main package: name one with --package", pattern)
	default:
		return program{}, fmt.Errorf("find package %s: %d main packages (%s): name one with --package",
			pattern, len(mains), strings.Join(mains, ", "))
	}
}

// build compiles pkg for platform, statically (CGO_ENABLED=0) and without
// file system paths (-trimpath), with version stamped into
// versionVariable, and returns the binary.
func (g golang) build(ctx context.Context, pkg program, platform dagger.Platform, version, versionVariable string) (*dagger.File, error) {
	env, err := platformEnv(platform)
	if err != nil {
		return nil, err
	}
	ldflags := "-s -w"
	if versionVariable != "" {
		if strings.ContainsAny(version, " \t\n'\"") || strings.ContainsAny(versionVariable, " \t\n'\"=") {
			return nil, fmt.Errorf("build %s: invalid version %q or version variable %q: no spaces or quotes allowed", pkg.ImportPath, version, versionVariable)
		}
		ldflags += " -X " + versionVariable + "=" + version
	}
	ctr := g.container().WithEnvVariable("CGO_ENABLED", "0")
	for _, kv := range env {
		ctr = ctr.WithEnvVariable(kv[0], kv[1])
	}
	args := []string{"go", "build", "-trimpath", "-ldflags", ldflags, "-o", outputFile, pkg.ImportPath}
	ctr = ctr.WithExec(args)
	if _, err := ctr.Sync(ctx); err != nil {
		return nil, fmt.Errorf("build %s for %s: %w", pkg.ImportPath, platform, execError(err))
	}
	return ctr.File(outputFile), nil
}

// execError adds the output of a failed command to err, which Dagger's
// message lacks.
func execError(err error) error {
	var execErr *dagger.ExecError
	if !errors.As(err, &execErr) {
		return err
	}
	return fmt.Errorf("%s failed with exit code %d:\n%s", strings.Join(execErr.Cmd, " "), execErr.ExitCode, tail(execErr.Stdout+execErr.Stderr))
}

// platformEnv returns GOOS, GOARCH and, where the platform has a variant,
// GOARM or GOAMD64 for an OCI platform such as linux/arm/v7.
func platformEnv(platform dagger.Platform) ([][2]string, error) {
	parts := strings.Split(string(platform), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("invalid platform %q: expected OS/ARCH or OS/ARCH/VARIANT, such as linux/amd64", platform)
	}
	env := [][2]string{{"GOOS", parts[0]}, {"GOARCH", parts[1]}}
	if len(parts) == 3 {
		switch parts[1] {
		case "arm":
			env = append(env, [2]string{"GOARM", strings.TrimPrefix(parts[2], "v")})
		case "amd64":
			env = append(env, [2]string{"GOAMD64", parts[2]})
		}
	}
	return env, nil
}
