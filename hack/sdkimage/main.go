// Command sdkimage assembles the runtime image of the Dagger Go SDK and
// writes it as an OCI image layout into the engine's builtin content
// folder. The engine loads Go SDK modules in a container of that image,
// chosen by the manifest digest in DAGGER_GO_SDK_MANIFEST_DIGEST, and never
// pulls it from a registry.
//
// The image contains what the engine's Go SDK runtime expects, as read in
// core/sdk/go_sdk.go of github.com/dagger/dagger v0.19.2:
//
//   - the Go toolchain at /usr/local/go and a static busybox as the shell;
//   - the engine's codegen at /usr/local/bin/codegen;
//   - a module cache at /go/pkg/mod with dagger.io/dagger and its
//     dependencies;
//   - a build cache at /root/.cache/go-build with the standard library
//     compiled, and /tmp.
//
// Modules that are not in the image are downloaded through GOPROXY,
// the cluster's Go module proxy, because containers in the engine have no
// other network.
//
// It prints one JSON object on stdout: the manifest digest and the number
// of modules in the image.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// config holds the command line.
type config struct {
	out        string
	codegen    string
	busybox    string
	goRoot     string
	goProxy    string
	sdkVersion string
}

// result is the JSON object printed on stdout.
type result struct {
	ManifestDigest string `json:"manifestDigest"`
	Modules        int    `json:"modules"`
}

// digestFile is the file in the output folder that stores the manifest
// digest, for scripts that start the engine.
const digestFile = "go-sdk-manifest-digest"

func main() {
	var cfg config
	flag.StringVar(&cfg.out, "out", "", "content folder to write the OCI image layout to; it is replaced (required)")
	flag.StringVar(&cfg.codegen, "codegen", "", "the engine's codegen binary (required)")
	flag.StringVar(&cfg.busybox, "busybox", "/bin/busybox", "statically linked busybox (Debian package busybox-static)")
	flag.StringVar(&cfg.goRoot, "goroot", "", "Go toolchain to copy into the image (default: go env GOROOT)")
	flag.StringVar(&cfg.goProxy, "goproxy", "", "GOPROXY setting of the image: the cluster's Go module proxy URL (required)")
	flag.StringVar(&cfg.sdkVersion, "sdk-version", "", "version of dagger.io/dagger, the engine's version (required)")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	res, err := run(ctx, cfg, logger)
	if err != nil {
		logger.Error("assembling the Go SDK image failed", "err", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		logger.Error("writing the result failed", "err", err)
		os.Exit(1)
	}
}

func (cfg *config) check() error {
	var missing []string
	for flagName, value := range map[string]string{
		"-out": cfg.out, "-codegen": cfg.codegen, "-goproxy": cfg.goProxy, "-sdk-version": cfg.sdkVersion,
	} {
		if value == "" {
			missing = append(missing, flagName)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing flags %s; run sdkimage -help", strings.Join(missing, ", "))
	}
	return nil
}

func run(ctx context.Context, cfg config, logger *slog.Logger) (result, error) {
	if err := cfg.check(); err != nil {
		return result{}, err
	}
	if cfg.goRoot == "" {
		out, err := goCommand(ctx, ".", "env", "GOROOT")
		if err != nil {
			return result{}, err
		}
		cfg.goRoot = strings.TrimSpace(string(out))
	}
	modCache, err := goCommand(ctx, ".", "env", "GOMODCACHE")
	if err != nil {
		return result{}, err
	}

	workDir, err := os.MkdirTemp(filepath.Dir(filepath.Clean(cfg.out)), ".sdkimage-")
	if err != nil {
		return result{}, fmt.Errorf("create a work folder beside %s: %w", cfg.out, err)
	}
	defer os.RemoveAll(workDir)

	var layers []v1.Layer
	addLayer := func(name string, b *layerBuilder) error {
		logger.Info("writing layer", "layer", name)
		layer, err := b.Layer(filepath.Join(workDir, name+".tar.gz"))
		if err != nil {
			return err
		}
		layers = append(layers, layer)
		return nil
	}

	base, err := baseLayer(cfg)
	if err != nil {
		return result{}, err
	}
	if err := addLayer("base", base); err != nil {
		return result{}, err
	}

	toolchain := newLayerBuilder()
	if err := toolchain.HostTree("/usr/local/go", cfg.goRoot, skipGoRoot); err != nil {
		return result{}, err
	}
	if err := addLayer("go", toolchain); err != nil {
		return result{}, err
	}

	logger.Info("downloading the SDK's modules", "sdk", "dagger.io/dagger@"+cfg.sdkVersion)
	modules := newLayerBuilder()
	count, err := addSDKModules(ctx, modules, workDir, strings.TrimSpace(string(modCache)), cfg.sdkVersion)
	if err != nil {
		return result{}, err
	}
	if err := addLayer("modules", modules); err != nil {
		return result{}, err
	}

	logger.Info("compiling the standard library into the build cache")
	buildCache, err := stdBuildCache(ctx, workDir, cfg.goRoot)
	if err != nil {
		return result{}, err
	}
	if err := addLayer("go-build", buildCache); err != nil {
		return result{}, err
	}

	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return result{}, fmt.Errorf("append layers: %w", err)
	}
	img, err = mutate.ConfigFile(img, imageConfig(img, cfg))
	if err != nil {
		return result{}, fmt.Errorf("set the image config: %w", err)
	}

	digest, err := writeLayout(cfg.out, img)
	if err != nil {
		return result{}, err
	}
	logger.Info("wrote the Go SDK image", "dir", cfg.out, "digest", digest)
	return result{ManifestDigest: digest, Modules: count}, nil
}

// baseLayer returns the layer with busybox, codegen and the empty folders.
func baseLayer(cfg config) (*layerBuilder, error) {
	b := newLayerBuilder()
	if err := b.HostFile("/bin/busybox", cfg.busybox); err != nil {
		return nil, err
	}
	out, err := exec.Command(cfg.busybox, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("list busybox applets with %s --list-full: %w", cfg.busybox, err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet != "bin/busybox" {
			b.Symlink("/"+applet, "/bin/busybox")
		}
	}
	if err := b.HostFile("/usr/local/bin/codegen", cfg.codegen); err != nil {
		return nil, err
	}
	b.Dir("/tmp", 0o1777)
	b.Dir("/root", 0o700)
	b.Dir("/root/.cache/go-build", 0o755)
	b.Dir("/go/bin", 0o755)
	b.File("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	b.File("/etc/group", 0o644, []byte("root:x:0:\n"))
	return b, nil
}

// skipGoRoot leaves out the parts of GOROOT that building never reads:
// the toolchain's own tests.
func skipGoRoot(rel string) bool {
	return rel == "test" || rel == "pkg/obj"
}

// stdBuildCache compiles the standard library with the image's settings
// into a fresh build cache and returns it as /root/.cache/go-build. The
// image's toolchain sits at the same path as the host's, so the cache keys
// match and the first module build in the engine reuses these results.
func stdBuildCache(ctx context.Context, workDir, goRoot string) (*layerBuilder, error) {
	cacheDir := filepath.Join(workDir, "go-build")
	cmd := exec.CommandContext(ctx, filepath.Join(goRoot, "bin", "go"), "build", "std")
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), "GOCACHE="+cacheDir, "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build std: %w: %s", err, strings.TrimSpace(string(out)))
	}
	b := newLayerBuilder()
	if err := b.HostTree("/root/.cache/go-build", cacheDir, nil); err != nil {
		return nil, err
	}
	return b, nil
}

// imageConfig returns the image's config: the Go environment of a Go SDK
// module build, without network other than the cluster's Go module proxy.
func imageConfig(img v1.Image, cfg config) *v1.ConfigFile {
	configFile, err := img.ConfigFile()
	if err != nil || configFile == nil {
		configFile = &v1.ConfigFile{}
	}
	configFile = configFile.DeepCopy()
	configFile.Architecture = "amd64"
	configFile.OS = "linux"
	configFile.Config.Env = []string{
		"PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"GOPATH=/go",
		"GOTOOLCHAIN=local",
		"CGO_ENABLED=0",
		"GOFLAGS=-mod=mod",
		"GOPROXY=" + cfg.goProxy,
	}
	configFile.Config.WorkingDir = "/"
	return configFile
}

// writeLayout replaces dir with an OCI image layout that contains img, and
// writes the manifest digest to dir/go-sdk-manifest-digest. It builds the
// layout beside dir and renames it, so dir is never half written.
func writeLayout(dir string, img v1.Image) (string, error) {
	dir = filepath.Clean(dir)
	tmp := dir + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("remove %s: %w", tmp, err)
	}
	path, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return "", fmt.Errorf("create the image layout %s: %w", tmp, err)
	}
	if err := path.AppendImage(img); err != nil {
		return "", fmt.Errorf("write the image to %s: %w", tmp, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("compute the manifest digest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, digestFile), []byte(digest.String()+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("write the manifest digest: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("remove the old layout %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("move the layout into place at %s: %w", dir, err)
	}
	return digest.String(), nil
}
