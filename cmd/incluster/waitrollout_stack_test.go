//go:build stack

package main

import (
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/internal/stacktest"
)

// kubeNamespace returns the stack's kubeconfig path, a client, and a new
// namespace that is deleted when the test ends.
func kubeNamespace(t *testing.T) (string, kubernetes.Interface, string) {
	t.Helper()
	client := stacktest.KubeClient(t)
	return stacktest.Kubeconfig(t), client, stacktest.CreateNamespace(t, client, "cli-rollout-")
}

func podTemplate(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

var webSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}

// A DaemonSet on a cluster without nodes wants no pods, so its rollout is
// complete as soon as the controller has observed it.
func TestWaitRolloutCommandDaemonSet(t *testing.T) {
	kubeconfig, client, ns := kubeNamespace(t)
	_, err := client.AppsV1().DaemonSets(ns).Create(t.Context(), &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec:       appsv1.DaemonSetSpec{Selector: webSelector, Template: podTemplate(testDigestImage)},
	}, metav1.CreateOptions{})
	assert.NilError(t, err)

	r := runProgram(t, "", []string{"KUBECONFIG=" + kubeconfig}, "wait-rollout", "--namespace", ns, "--timeout", "30s", testDigestImage)
	assert.Check(t, is.Equal(r.code, 0), r.stderr)
	assert.Check(t, is.Equal(r.stdout, "daemonset "+ns+"/agent 0 of 0 pods updated and available\n"))
}

func TestWaitRolloutCommandTimeoutJSON(t *testing.T) {
	kubeconfig, client, ns := kubeNamespace(t)
	_, err := client.AppsV1().Deployments(ns).Create(t.Context(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: webSelector, Template: podTemplate(testDigestImage)},
	}, metav1.CreateOptions{})
	assert.NilError(t, err)

	// No kubelet marks the pods ready, so the wait times out.
	r := runProgram(t, "", nil, "wait-rollout", "--kubeconfig", kubeconfig, "--namespace", ns, "--timeout", "2s", "--json", "--quiet", testDigestImage)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "timed out after 2"))
	assert.Check(t, is.Contains(r.stderr, "deployment "+ns+"/web: 0 of 2 updated replicas available"))
	var result struct {
		Workloads []struct {
			Name string `json:"name"`
			Done bool   `json:"done"`
		} `json:"workloads"`
	}
	assert.NilError(t, json.Unmarshal([]byte(r.stdout), &result), r.stdout)
	assert.Assert(t, is.Len(result.Workloads, 1))
	assert.Check(t, is.Equal(result.Workloads[0].Name, "web"))
	assert.Check(t, !result.Workloads[0].Done)
}

func TestWaitRolloutCommandNoWorkload(t *testing.T) {
	kubeconfig, _, ns := kubeNamespace(t)
	r := runProgram(t, "", []string{"KUBECONFIG=" + kubeconfig}, "wait-rollout", "--namespace", ns, testDigestImage)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "no Deployment, StatefulSet or DaemonSet in namespace "+ns+" uses registry.test/shop/web"))
}
