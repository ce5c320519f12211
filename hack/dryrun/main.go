// Command dryrun sends every object of the given YAML files to a
// Kubernetes API server as a server-side apply with dryRun=All and strict
// field validation, the equivalent of
// `kubectl apply --server-side --dry-run=server --validate=strict`, so the
// API server's own validation and admission judge each object and nothing
// is stored.
//
// Before that, for real, it applies the CustomResourceDefinitions that the
// objects need (-crd) and waits until they are established, and it creates
// every namespace that a namespaced object names and that does not exist
// yet, because a dry-run create in a missing namespace fails with
// NotFound. Both stay in the cluster, so later runs find them.
//
// stdout gets one line per accepted object: KIND NAMESPACE/NAME FILE.
// stderr gets one line per rejected object with the API server's message.
// The exit status is 1 when any object was rejected.
//
//	go run ./hack/dryrun -kubeconfig "$INCLUSTER_KUBECONFIG" manifests/app/*.yaml
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/incluster/incluster/internal/gomod"
	"github.com/incluster/incluster/internal/toolmain"
)

// fieldManager owns the fields that the real applies (CRDs) set.
const fieldManager = "incluster-check"

// defaultCRDs are the CustomResourceDefinitions that the manifests use:
// Argo CD's Application, from the same module and version as the schemas
// that hack/schemas generates.
var defaultCRDs = []string{
	"github.com/argoproj/argo-cd/v3@v3.2.0=manifests/crds/application-crd.yaml",
}

var (
	crdGVR       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	namespaceGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// errRejected means that the API server rejected at least one object.
var errRejected = errors.New("the API server rejected objects")

type crdFlag []string

func (f *crdFlag) String() string { return strings.Join(*f, ",") }
func (f *crdFlag) Set(v string) error {
	*f = append(*f, v)
	return nil
}

func main() {
	toolmain.Run("dryrun", run)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dryrun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeconfig := fs.String("kubeconfig", os.Getenv("INCLUSTER_KUBECONFIG"), "kubeconfig of the API server (default $INCLUSTER_KUBECONFIG)")
	timeout := fs.Duration("timeout", 2*time.Minute, "time limit for the whole run")
	var crds crdFlag
	fs.Var(&crds, "crd", "CRD to apply first: a YAML `FILE` or MODULE@VERSION=PATH inside a Go module (repeatable; default: Argo CD's Application)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./hack/dryrun [flags] FILE...\n\n"+
			"Dry-runs every object of the YAML files against a Kubernetes API server\n"+
			"(server-side apply, dryRun=All, strict field validation).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("no manifest files given: %w", flag.ErrHelp)
	}
	if *kubeconfig == "" {
		return errors.New("no kubeconfig: pass -kubeconfig or set INCLUSTER_KUBECONFIG (eval \"$(hack/stack env)\")")
	}
	if len(crds) == 0 {
		crds = defaultCRDs
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	objects, err := readObjects(fs.Args())
	if err != nil {
		return err
	}
	c, err := newCluster(*kubeconfig)
	if err != nil {
		return err
	}
	for _, src := range crds {
		if err := c.applyCRDs(ctx, src); err != nil {
			return err
		}
	}
	// The CRDs add API resources that the cached discovery has not seen.
	c.mapper.Reset()

	rejected := 0
	var accepted []object
	for _, obj := range objects {
		if err := c.resolve(&obj); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", obj, err)
			rejected++
			continue
		}
		accepted = append(accepted, obj)
	}
	if err := c.createNamespaces(ctx, accepted); err != nil {
		return err
	}
	for _, obj := range accepted {
		if err := c.dryRun(ctx, obj); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", obj, err)
			rejected++
			continue
		}
		fmt.Fprintf(stdout, "%s %s %s\n", obj.u.GetKind(), obj.namespacedName(), obj.file)
	}
	if rejected > 0 {
		return fmt.Errorf("%w: %d of %d", errRejected, rejected, len(objects))
	}
	return nil
}

// object is one YAML document and where it came from.
type object struct {
	file string
	u    *unstructured.Unstructured
	// Set by cluster.resolve.
	resource   schema.GroupVersionResource
	namespaced bool
}

func (o object) namespacedName() string {
	if !o.namespaced {
		return o.u.GetName()
	}
	return o.u.GetNamespace() + "/" + o.u.GetName()
}

func (o object) String() string {
	return fmt.Sprintf("dry-run %s %s (%s)", o.u.GetKind(), o.namespacedName(), o.file)
}

// readObjects parses every YAML document of files and skips empty ones.
func readObjects(files []string) ([]object, error) {
	var objects []object
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read manifest: %w", err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("parse manifest %s: %w", file, err)
			}
			if len(doc) == 0 {
				continue
			}
			u := &unstructured.Unstructured{Object: doc}
			if u.GetKind() == "" || u.GetAPIVersion() == "" || u.GetName() == "" {
				f.Close()
				return nil, fmt.Errorf("parse manifest %s: a document without apiVersion, kind or metadata.name", file)
			}
			objects = append(objects, object{file: file, u: u})
		}
		f.Close()
	}
	return objects, nil
}

type cluster struct {
	client dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	host   string
}

func newCluster(kubeconfig string) (*cluster, error) {
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}, &clientcmd.ConfigOverrides{})
	config, err := loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	config.UserAgent = "incluster-dryrun"
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("create client for %s: %w", config.Host, err)
	}
	disco, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("create discovery client for %s: %w", config.Host, err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
	return &cluster{client: client, mapper: mapper, host: config.Host}, nil
}

// resolve finds obj's resource and scope, and sets the namespace of a
// namespaced object that has none to "default", as kubectl does.
func (c *cluster) resolve(obj *object) error {
	gvk := obj.u.GroupVersionKind()
	mapping, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("find the API resource of %s on %s: %w", gvk, c.host, err)
	}
	obj.resource = mapping.Resource
	obj.namespaced = mapping.Scope.Name() == meta.RESTScopeNameNamespace
	if obj.namespaced && obj.u.GetNamespace() == "" {
		obj.u.SetNamespace(metav1.NamespaceDefault)
	}
	if !obj.namespaced {
		obj.u.SetNamespace("")
	}
	return nil
}

// applyCRDs applies every CustomResourceDefinition of src for real and
// waits until each is established.
func (c *cluster) applyCRDs(ctx context.Context, src string) error {
	file, err := crdFile(ctx, src)
	if err != nil {
		return err
	}
	objects, err := readObjects([]string{file})
	if err != nil {
		return err
	}
	for _, obj := range objects {
		if obj.u.GetKind() != "CustomResourceDefinition" {
			continue
		}
		data, err := json.Marshal(obj.u.Object)
		if err != nil {
			return fmt.Errorf("encode CRD %s: %w", obj.u.GetName(), err)
		}
		force := true
		_, err = c.client.Resource(crdGVR).Patch(ctx, obj.u.GetName(), types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: fieldManager, Force: &force})
		if err != nil {
			return fmt.Errorf("apply CRD %s from %s: %w", obj.u.GetName(), src, err)
		}
		if err := c.waitEstablished(ctx, obj.u.GetName()); err != nil {
			return err
		}
	}
	return nil
}

func (c *cluster) waitEstablished(ctx context.Context, name string) error {
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		crd, err := c.client.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, item := range conditions {
			cond, _ := item.(map[string]any)
			if cond["type"] == "Established" && cond["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("wait for CRD %s to be established: %w", name, err)
	}
	return nil
}

// crdFile returns the path of src, a file or MODULE@VERSION=PATH, which
// it fetches with `go mod download`.
func crdFile(ctx context.Context, src string) (string, error) {
	module, path, ok := strings.Cut(src, "=")
	if !ok {
		return src, nil
	}
	if !strings.Contains(module, "@") || path == "" {
		return "", fmt.Errorf("invalid CRD source %q: want FILE or MODULE@VERSION=PATH", src)
	}
	dir, err := gomod.Download(ctx, module)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.FromSlash(path)), nil
}

// createNamespaces creates, for real, each namespace that a namespaced
// object of objects names and that does not exist yet.
func (c *cluster) createNamespaces(ctx context.Context, objects []object) error {
	seen := map[string]bool{}
	for _, obj := range objects {
		ns := obj.u.GetNamespace()
		if !obj.namespaced || seen[ns] {
			continue
		}
		seen[ns] = true
		_, err := c.client.Resource(namespaceGVR).Get(ctx, ns, metav1.GetOptions{})
		if err == nil {
			continue
		}
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("get namespace %s: %w", ns, err)
		}
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("v1")
		u.SetKind("Namespace")
		u.SetName(ns)
		u.SetLabels(map[string]string{"app.kubernetes.io/managed-by": fieldManager})
		_, err = c.client.Resource(namespaceGVR).Create(ctx, u, metav1.CreateOptions{FieldManager: fieldManager})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
	}
	return nil
}

// dryRun sends obj as a server-side apply that the API server validates
// and admits but does not store.
func (c *cluster) dryRun(ctx context.Context, obj object) error {
	data, err := json.Marshal(obj.u.Object)
	if err != nil {
		return fmt.Errorf("encode %s: %w", obj.u.GetKind(), err)
	}
	var ri dynamic.ResourceInterface = c.client.Resource(obj.resource)
	if obj.namespaced {
		ri = c.client.Resource(obj.resource).Namespace(obj.u.GetNamespace())
	}
	force := true
	_, err = ri.Patch(ctx, obj.u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{
		DryRun:          []string{metav1.DryRunAll},
		FieldManager:    fieldManager,
		Force:           &force,
		FieldValidation: metav1.FieldValidationStrict,
	})
	return err
}
