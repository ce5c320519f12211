package main

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Host inputs of the two images.
type sources struct {
	// GoRoot is the Go toolchain copied to /usr/local/go.
	GoRoot string
	// Busybox is a statically linked busybox, the builder image's shell.
	Busybox string
	// CACerts is the CA bundle copied to /etc/ssl/certs/ca-certificates.crt.
	CACerts string
	// ZoneInfo is the time zone database copied to /usr/share/zoneinfo.
	ZoneInfo string
	// CacheDir keeps compressed layers between runs.
	CacheDir string
}

const (
	caPath   = "/etc/ssl/certs/ca-certificates.crt"
	goRoot   = "/usr/local/go"
	basePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	nonroot  = 65532
)

// The same users and groups as gcr.io/distroless/static's /etc/passwd and
// /etc/group.
const (
	passwd = `root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
`
	group = `root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
`
	// Go's resolver reads /etc/hosts before DNS only when nsswitch.conf lists files first.
	nsswitch = "hosts: files dns\n"
)

// goVersion returns the toolchain version of goRoot without the "go"
// prefix, such as 1.26.8, from its VERSION file.
func goVersion(goRoot string) (string, error) {
	data, err := os.ReadFile(filepath.Join(goRoot, "VERSION"))
	if err != nil {
		return "", fmt.Errorf("reading the Go version: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	v, ok := strings.CutPrefix(strings.TrimSpace(line), "go")
	if !ok || v == "" {
		return "", fmt.Errorf("reading the Go version: %s/VERSION starts with %q, expected go1.x", goRoot, line)
	}
	return v, nil
}

// checkELF fails unless file is an x86-64 executable and, when static is
// set, has no program interpreter (is statically linked).
func checkELF(file string, static bool) error {
	f, err := elf.Open(file)
	if err != nil {
		return fmt.Errorf("checking %s: %w", file, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("checking %s: machine %s, expected x86-64 for linux/amd64", file, f.Machine)
	}
	if static {
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				return fmt.Errorf("checking %s: dynamically linked; install the static busybox (Debian package busybox-static)", file)
			}
		}
	}
	return nil
}

// busyboxApplets lists the applet paths that busybox installs, such as
// bin/sh and usr/bin/env, by running it with --list-full.
func busyboxApplets(busybox string) ([]string, error) {
	out, err := exec.Command(busybox, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("listing busybox applets with %s --list-full: %w", busybox, err)
	}
	return strings.Fields(string(out)), nil
}

// baseFiles adds what both images share: users, groups, nsswitch.conf,
// the CA bundle and /tmp.
func baseFiles(b *layerBuilder, src sources) error {
	b.File("/etc/passwd", 0o644, []byte(passwd))
	b.File("/etc/group", 0o644, []byte(group))
	b.File("/etc/nsswitch.conf", 0o644, []byte(nsswitch))
	if err := b.HostFile(caPath, src.CACerts); err != nil {
		return err
	}
	b.Dir("/tmp", 0o1777, 0, 0)
	return nil
}

// newImage returns an empty linux/amd64 OCI image with the given config.
func newImage(cfg v1.Config) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	return mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: "amd64",
		OS:           "linux",
		Created:      v1.Time{Time: epoch},
		Config:       cfg,
		RootFS:       v1.RootFS{Type: "layers"},
	})
}

// appendLayer appends layer with a history entry that describes its contents.
func appendLayer(img v1.Image, layer v1.Layer, createdBy string) (v1.Image, error) {
	return mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: createdBy, Comment: "hack/mirror"},
	})
}

// goImage returns the builder image: the Go toolchain at /usr/local/go, a
// static busybox as /bin/sh and the other applets, CA certificates and
// /tmp. It runs as root, like the golang images on Docker Hub.
func goImage(src sources) (v1.Image, error) {
	version, err := goVersion(src.GoRoot)
	if err != nil {
		return nil, err
	}
	if err := checkELF(filepath.Join(src.GoRoot, "bin", "go"), false); err != nil {
		return nil, err
	}
	if err := checkELF(src.Busybox, true); err != nil {
		return nil, err
	}
	applets, err := busyboxApplets(src.Busybox)
	if err != nil {
		return nil, err
	}

	base := newLayerBuilder()
	if err := baseFiles(base, src); err != nil {
		return nil, err
	}
	base.Dir("/root", 0o700, 0, 0)
	base.Dir("/go", 0o777, 0, 0)
	if err := base.HostFile("/bin/busybox", src.Busybox); err != nil {
		return nil, err
	}
	for _, a := range applets {
		name := "/" + strings.TrimPrefix(a, "/")
		if name == "/bin/busybox" {
			continue
		}
		base.Symlink(name, "/bin/busybox")
	}
	baseLayer, err := base.Layer(src.CacheDir, "golang-base")
	if err != nil {
		return nil, err
	}

	toolchain := newLayerBuilder()
	if err := toolchain.HostTree(goRoot, src.GoRoot); err != nil {
		return nil, err
	}
	toolchainLayer, err := toolchain.Layer(src.CacheDir, "golang-toolchain")
	if err != nil {
		return nil, err
	}

	img, err := newImage(v1.Config{
		Env: []string{
			"PATH=/go/bin:" + path.Join(goRoot, "bin") + ":" + basePath,
			"GOROOT=" + goRoot,
			"GOPATH=/go",
			"GOTOOLCHAIN=local",
			"GOLANG_VERSION=" + version,
			"CGO_ENABLED=0",
			"HOME=/root",
			"SSL_CERT_FILE=" + caPath,
		},
		WorkingDir: "/go",
		Cmd:        []string{"/bin/sh"},
	})
	if err != nil {
		return nil, err
	}
	if img, err = appendLayer(img, baseLayer, "busybox, CA certificates, users, /tmp"); err != nil {
		return nil, err
	}
	return appendLayer(img, toolchainLayer, "Go "+version+" at "+goRoot)
}

// baseImage returns the distroless-style static base: CA certificates, the
// time zone database, root, nobody and nonroot (65532) users, /home/nonroot,
// /tmp, no shell, running as user 65532.
func baseImage(src sources) (v1.Image, error) {
	b := newLayerBuilder()
	if err := baseFiles(b, src); err != nil {
		return nil, err
	}
	b.Dir("/root", 0o700, 0, 0)
	b.Dir("/home/nonroot", 0o700, nonroot, nonroot)
	if err := b.HostTree("/usr/share/zoneinfo", src.ZoneInfo); err != nil {
		return nil, err
	}
	layer, err := b.Layer(src.CacheDir, "distroless-static")
	if err != nil {
		return nil, err
	}
	img, err := newImage(v1.Config{
		Env:        []string{"PATH=" + basePath, "SSL_CERT_FILE=" + caPath},
		User:       fmt.Sprint(nonroot),
		WorkingDir: "/home/nonroot",
	})
	if err != nil {
		return nil, err
	}
	return appendLayer(img, layer, "CA certificates, tzdata, users root, nobody and nonroot, /tmp")
}
