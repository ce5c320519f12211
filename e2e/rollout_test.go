//go:build stack

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	"k8s.io/client-go/kubernetes"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/internal/fakekubelet"
	"github.com/incluster/incluster/internal/stacktest"
)

// rolloutTimeout bounds each wait for a rollout of podinfo. Its
// Deployment has minReadySeconds: 3, and the fake kubelet makes pods
// ready at once.
const rolloutTimeout = "3m"

// syncInterval is how often syncManifest reads the manifest repository.
const syncInterval = 500 * time.Millisecond

// TestPodinfoRollout ships podinfo with build-and-push --wait-rollout
// while syncManifest, standing in for ArgoCD, applies the bumped manifest
// from Gitea to the stack's API server, and the fake kubelet runs its
// pods. Subtests then wait with the wait-rollout function and with
// build-and-push, for the same rollout and for one whose image pull
// fails.
func TestPodinfoRollout(t *testing.T) {
	s := stacktest.Get(t)
	client := stacktest.KubeClient(t)
	clusterKubeconfig := stacktest.ClusterKubeconfig(t)
	src := podinfo(t)
	acct := newAccount(t, s)

	// The manifest names the image in the registry that build-and-push
	// pushes to, with podinfo's version as tag, as TestPodinfo's does.
	original, err := os.ReadFile(filepath.Join(src.dir, podinfoManifest))
	assert.NilError(t, err)
	oldLine := "image: " + podinfoImage + ":" + podinfoVersion
	assert.Assert(t, is.Equal(strings.Count(string(original), oldLine), 1), "image line of podinfo's %s", podinfoManifest)
	repository := s.ClusterGitea + "/" + acct.name + "/podinfo"
	manifest := strings.Replace(string(original), oldLine, "image: "+repository+":"+podinfoVersion, 1)
	repo := acct.createRepo(t, "deploy", map[string]string{podinfoManifest: manifest})

	// The cluster runs the manifest's version before the push, as after
	// an earlier sync.
	ns := stacktest.CreateNamespace(t, client, "e2e-rollout-")
	fakekubelet.Start(t, client, ns)
	assert.NilError(t, applyDeployment(t.Context(), client, ns, manifest, ""))
	syncManifest(t, client, acct, repo, ns)

	p := pipeline{
		src:          src,
		acct:         acct,
		app:          "podinfo",
		pkg:          podinfoPackage,
		manifestRepo: repo,
		manifestPath: podinfoManifest,
	}
	run := buildAndPushAndWait(t, s, p, clusterKubeconfig, ns)
	res := parseResult(t, run)

	t.Run("build-and-push rollout step", func(t *testing.T) {
		release, err := os.ReadFile(filepath.Join(run.report, "release.json"))
		assert.NilError(t, err)
		assert.Check(t, is.Contains(string(release), "rolled out "+res.reference))
		assert.Check(t, is.Contains(string(release), "deployment "+ns+"/podinfo"))
		summary, err := os.ReadFile(filepath.Join(run.report, "summary.md"))
		assert.NilError(t, err)
		assert.Check(t, is.Contains(string(summary), "rollout"), "job summary lacks the rollout step")

		d, err := client.AppsV1().Deployments(ns).Get(t.Context(), "podinfo", metav1.GetOptions{})
		assert.NilError(t, err)
		assert.Check(t, is.Equal(d.Spec.Template.Spec.Containers[0].Image, res.reference), "image after the sync")
	})

	t.Run("wait-rollout succeeds", func(t *testing.T) {
		run := waitRollout(t, s, acct, clusterKubeconfig, ns, res.reference)
		requireSuccess(t, run)
		line := strings.TrimSpace(run.stdout)
		t.Logf("result: %s", line)
		assert.Check(t, is.Contains(line, "rolled out "+res.reference))
		assert.Check(t, is.Contains(line, "deployment "+ns+"/podinfo: "))
		assert.Check(t, !strings.Contains(line, "\n"), "result is not one line: %q", line)
	})

	t.Run("wait-rollout reports an image pull error", func(t *testing.T) {
		failing := stacktest.CreateNamespace(t, client, "e2e-rollout-pull-")
		fakekubelet.Start(t, client, failing)
		bumped := acct.readFile(t, repo, podinfoManifest)
		assert.NilError(t, applyDeployment(t.Context(), client, failing, bumped, fakekubelet.ErrImagePull))

		msg := failure(t, waitRollout(t, s, acct, clusterKubeconfig, failing, res.reference))
		t.Logf("error: %s", msg)
		assert.Check(t, is.Contains(msg, "wait-rollout: rollout failed: deployment "+failing+"/podinfo"))
		assert.Check(t, is.Contains(msg, fmt.Sprintf(fakekubelet.PullErrorMessage, res.reference)))
		assert.Check(t, !strings.Contains(msg, "\n"), "error is not one line: %q", msg)

		// A second build-and-push pushes and commits nothing new, and its
		// rollout step finds the failing Deployment.
		msg = failure(t, buildAndPushAndWait(t, s, p, clusterKubeconfig, failing))
		t.Logf("error: %s", msg)
		assert.Check(t, is.Contains(msg, "build-and-push: rollout step failed: rollout failed: deployment "+failing+"/podinfo"))
		assert.Check(t, is.Contains(msg, fmt.Sprintf(fakekubelet.PullErrorMessage, res.reference)))
		assert.Check(t, !strings.Contains(msg, "\n"), "error is not one line: %q", msg)
	})
}

// buildAndPushAndWait runs build-and-push for p, as buildAndPush does,
// with the rollout step waiting in namespace through the kubeconfig file.
func buildAndPushAndWait(t *testing.T, s stacktest.Stack, p pipeline, kubeconfig, namespace string) daggerRun {
	t.Helper()
	p.extraArgs = append(p.extraArgs,
		"--wait-rollout",
		"--kubeconfig", "file:"+kubeconfig,
		"--rollout-namespace", namespace,
		"--rollout-timeout", rolloutTimeout,
	)
	return buildAndPush(t, s, p)
}

// waitRollout runs the module's wait-rollout for image in namespace.
func waitRollout(t *testing.T, s stacktest.Stack, acct *account, kubeconfig, namespace, image string) daggerRun {
	t.Helper()
	return runDagger(t, s, t.TempDir(), nil, []secret{acct.secret()},
		"-m", moduleRoot(t), "call", "wait-rollout",
		"--image", image,
		"--kubeconfig", "file:"+kubeconfig,
		"--namespace", namespace,
		"--timeout", rolloutTimeout)
}

// applyDeployment applies the Deployment manifest to namespace with
// server-side apply, as ArgoCD's sync does. A non-empty behavior sets the
// fake kubelet's annotation on the pod template.
func applyDeployment(ctx context.Context, client kubernetes.Interface, namespace, manifest, behavior string) error {
	var d appsv1ac.DeploymentApplyConfiguration
	if err := yaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096).Decode(&d); err != nil {
		return fmt.Errorf("parse the Deployment manifest: %w", err)
	}
	d.WithNamespace(namespace)
	if behavior != "" {
		if d.Spec == nil || d.Spec.Template == nil {
			return fmt.Errorf("apply the Deployment manifest: it has no pod template")
		}
		d.Spec.Template.WithAnnotations(map[string]string{fakekubelet.Annotation: behavior})
	}
	_, err := client.AppsV1().Deployments(namespace).Apply(ctx, &d, metav1.ApplyOptions{FieldManager: "e2e-sync", Force: true})
	if err != nil {
		return fmt.Errorf("apply Deployment %s/%s: %w", namespace, *d.Name, err)
	}
	return nil
}

// syncManifest plays ArgoCD until the test ends: it reads the tip of
// repo's main branch every syncInterval and applies podinfoManifest to
// namespace when the tip moves.
func syncManifest(t *testing.T, client kubernetes.Interface, acct *account, repo, namespace string) {
	t.Helper()
	owner, name, _ := strings.Cut(repo, "/")
	synced := acct.head(t, repo)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})

	wg.Add(1)
	go func() {
		defer wg.Done()
		ticker := time.NewTicker(syncInterval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			branch, _, err := acct.api.GetRepoBranch(owner, name, "main")
			if err != nil {
				t.Logf("sync: reading branch main of %s: %v", repo, err)
				continue
			}
			if branch.Commit.ID == synced {
				continue
			}
			data, _, err := acct.api.GetFile(owner, name, "main", podinfoManifest)
			if err != nil {
				t.Logf("sync: reading %s from %s: %v", podinfoManifest, repo, err)
				continue
			}
			if err := applyDeployment(ctx, client, namespace, string(data), ""); err != nil {
				t.Errorf("sync: %v", err)
				return
			}
			t.Logf("sync: applied %s at %s", podinfoManifest, branch.Commit.ID)
			synced = branch.Commit.ID
		}
	}()
}
