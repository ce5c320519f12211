// Command schemas generates the Kubernetes JSON schemas that kubeconform
// validates manifests against, offline. It reads the OpenAPI spec that the
// k8s.io/kubernetes Go module ships (api/openapi-spec/swagger.json) and the
// CustomResourceDefinitions of other Go modules, all fetched with
// `go mod download`, and writes kubeconform's folder layout:
//
//	DIR/vVERSION-standalone/KIND[-GROUP]-APIVERSION.json
//	DIR/vVERSION-standalone-strict/...
//
// The strict variant rejects fields that the schema does not list. DIR is
// cached under $INCLUSTER_CACHE/schemas, keyed by the Kubernetes version
// and the CRD sources, and printed on stdout for kubeconform's
// -schema-location flag.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/incluster/incluster/internal/gomod"
	"github.com/incluster/incluster/internal/toolmain"
)

// formatVersion is part of the cache key. Bump it when a change to this
// program changes the generated files.
const formatVersion = "1"

const (
	kubernetesModule = "k8s.io/kubernetes"
	specPath         = "api/openapi-spec/swagger.json"
)

// defaultCRDs are the CustomResourceDefinitions that the manifests use:
// Argo CD's Application.
var defaultCRDs = []string{
	"github.com/argoproj/argo-cd/v3@v3.2.0=manifests/crds/application-crd.yaml",
}

type crdFlag []string

func (f *crdFlag) String() string { return strings.Join(*f, ",") }
func (f *crdFlag) Set(v string) error {
	if _, _, err := parseCRDSource(v); err != nil {
		return err
	}
	*f = append(*f, v)
	return nil
}

func main() {
	toolmain.Run("schemas", run)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("schemas", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("kubernetes-version", "v1.37.2", "version of the k8s.io/kubernetes module whose OpenAPI spec is read")
	cache := fs.String("cache", defaultCache(), "folder that holds the generated schema folders")
	force := fs.Bool("force", false, "generate again even when the cache holds the schemas")
	var crds crdFlag
	fs.Var(&crds, "crd", "CRD source `MODULE@VERSION=PATH`, a YAML file inside a Go module (repeatable; default: Argo CD's Application)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./hack/schemas [flags]\n\n"+
			"Generates Kubernetes JSON schemas for kubeconform from the OpenAPI spec of the\n"+
			"k8s.io/kubernetes module and prints their folder (kubeconform -schema-location).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected argument %q: %w", fs.Arg(0), flag.ErrHelp)
	}
	if !strings.HasPrefix(*version, "v") {
		return fmt.Errorf("invalid -kubernetes-version %q: want a module version such as v1.37.2", *version)
	}
	if len(crds) == 0 {
		crds = defaultCRDs
	}

	dir := filepath.Join(*cache, cacheKey(*version, crds))
	if !*force {
		if _, err := os.Stat(filepath.Join(dir, doneMarker)); err == nil {
			fmt.Fprintln(stdout, dir)
			return nil
		}
	}
	start := time.Now()
	fmt.Fprintf(stderr, "schemas: generating Kubernetes %s schemas into %s\n", *version, dir)
	n, err := generate(ctx, dir, *version, crds)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "schemas: wrote %d schemas in %s\n", n, time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(stdout, dir)
	return nil
}

// doneMarker is written last, so a folder without it is an interrupted run.
const doneMarker = ".complete"

func defaultCache() string {
	if c := os.Getenv("INCLUSTER_CACHE"); c != "" {
		return filepath.Join(c, "schemas")
	}
	if c, err := os.UserCacheDir(); err == nil {
		return filepath.Join(c, "incluster", "schemas")
	}
	return filepath.Join(os.TempDir(), "incluster-schemas")
}

// cacheKey names the cache folder: readable Kubernetes version plus a hash
// of everything else that changes the output.
func cacheKey(version string, crds []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "format %s\n", formatVersion)
	for _, c := range crds {
		fmt.Fprintf(h, "crd %s\n", c)
	}
	return "kubernetes-" + version + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}

func parseCRDSource(s string) (module, path string, err error) {
	module, path, ok := strings.Cut(s, "=")
	if !ok || !strings.Contains(module, "@") || path == "" {
		return "", "", fmt.Errorf("invalid CRD source %q: want MODULE@VERSION=PATH", s)
	}
	return module, path, nil
}

// generate writes both schema variants into dir and returns the number of
// files per variant. It builds them in a sibling folder and renames it, so
// readers never see a half-written cache.
func generate(ctx context.Context, dir, version string, crds []string) (int, error) {
	k8sDir, err := gomod.Download(ctx, kubernetesModule+"@"+version)
	if err != nil {
		return 0, err
	}
	spec, err := os.ReadFile(filepath.Join(k8sDir, specPath))
	if err != nil {
		return 0, fmt.Errorf("read OpenAPI spec: %w", err)
	}
	defs, err := loadDefinitions(spec)
	if err != nil {
		return 0, err
	}
	var crdData [][]byte
	for _, src := range crds {
		module, path, err := parseCRDSource(src)
		if err != nil {
			return 0, err
		}
		modDir, err := gomod.Download(ctx, module)
		if err != nil {
			return 0, err
		}
		data, err := os.ReadFile(filepath.Join(modDir, filepath.FromSlash(path)))
		if err != nil {
			return 0, fmt.Errorf("read CRD %s: %w", src, err)
		}
		crdData = append(crdData, data)
	}

	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return 0, fmt.Errorf("create cache folder: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tmp-schemas-")
	if err != nil {
		return 0, fmt.Errorf("create cache folder: %w", err)
	}
	defer os.RemoveAll(tmp)

	var count int
	for _, strict := range []bool{false, true} {
		c := converter{strict: strict}
		files, err := builtinSchemas(defs, c)
		if err != nil {
			return 0, err
		}
		for i, data := range crdData {
			got, err := crdSchemas(data, defs, c)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", crds[i], err)
			}
			files = append(files, got...)
		}
		variant := version + "-standalone"
		if strict {
			variant += "-strict"
		}
		if err := writeFiles(filepath.Join(tmp, variant), files); err != nil {
			return 0, err
		}
		count = len(files)
	}
	if err := os.WriteFile(filepath.Join(tmp, doneMarker), nil, 0o644); err != nil {
		return 0, fmt.Errorf("write cache marker: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return 0, fmt.Errorf("remove stale cache folder %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return 0, fmt.Errorf("move schemas into %s: %w", dir, err)
	}
	return count, nil
}

func writeFiles(dir string, files []schemaFile) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create schema folder: %w", err)
	}
	for _, f := range files {
		data, err := json.Marshal(f.Doc)
		if err != nil {
			return fmt.Errorf("encode %s: %w", f.Name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name), data, 0o644); err != nil {
			return fmt.Errorf("write schema: %w", err)
		}
	}
	return nil
}
