//go:build stack

package rollout_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/internal/fakekubelet"
	"github.com/incluster/incluster/internal/stacktest"
	"github.com/incluster/incluster/pipeline/rollout"
)

// The images never get pulled: no kubelet runs.
const repository = "registry.incluster.test/shop/web"

func image(version string) string {
	return fmt.Sprintf("%s@sha256:%x", repository, sha256.Sum256([]byte(version)))
}

func podTemplate(app, image, behavior string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      map[string]string{"app": app},
			Annotations: map[string]string{fakekubelet.Annotation: behavior},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

func deployment(name string, replicas int32, image, behavior string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name, image, behavior),
		},
	}
}

func createDeployment(t *testing.T, client kubernetes.Interface, namespace string, d *appsv1.Deployment) {
	t.Helper()
	_, err := client.AppsV1().Deployments(namespace).Create(t.Context(), d, metav1.CreateOptions{})
	assert.NilError(t, err)
}

func waiter(t *testing.T, client kubernetes.Interface) *rollout.Waiter {
	return &rollout.Waiter{Client: client, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
}

// testWriter sends the waiter's log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// assertFailure checks that err is a one-line *rollout.Failure that wraps
// reason and contains each of the texts.
func assertFailure(t *testing.T, err error, reason error, texts ...string) *rollout.Failure {
	t.Helper()
	assert.Assert(t, err != nil, "expected %v, got success", reason)
	t.Logf("error: %v", err)
	var failure *rollout.Failure
	assert.Assert(t, errors.As(err, &failure), "expected a *rollout.Failure, got %T: %v", err, err)
	assert.Assert(t, errors.Is(err, reason), "expected %v, got %v", reason, err)
	assert.Assert(t, !strings.Contains(err.Error(), "\n"), "error is not one line: %q", err.Error())
	for _, text := range texts {
		assert.Assert(t, is.Contains(err.Error(), text))
	}
	return failure
}

func TestWaitRolloutSucceeds(t *testing.T) {
	client := stacktest.KubeClient(t)
	ns := stacktest.CreateNamespace(t, client, "rollout-test-")
	kubelet := fakekubelet.Start(t, client, ns)
	w := waiter(t, client)

	createDeployment(t, client, ns, deployment("web", 3, image("v1"), fakekubelet.Ready))
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](2),
			ServiceName: "db",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template:    podTemplate("db", image("v1"), fakekubelet.Ready),
		},
	}
	_, err := client.AppsV1().StatefulSets(ns).Create(t.Context(), sts, metav1.CreateOptions{})
	assert.NilError(t, err)
	_, err = w.Wait(t.Context(), rollout.Request{Namespace: ns, Image: image("v1"), Timeout: time.Minute})
	assert.NilError(t, err, "first rollout")

	// Roll both workloads to v2, as an applied manifest would.
	d, err := client.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	assert.NilError(t, err)
	d.Spec.Template.Spec.Containers[0].Image = image("v2")
	_, err = client.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{})
	assert.NilError(t, err)
	s, err := client.AppsV1().StatefulSets(ns).Get(t.Context(), "db", metav1.GetOptions{})
	assert.NilError(t, err)
	s.Spec.Template.Spec.Containers[0].Image = image("v2")
	_, err = client.AppsV1().StatefulSets(ns).Update(t.Context(), s, metav1.UpdateOptions{})
	assert.NilError(t, err)

	result, err := w.Wait(t.Context(), rollout.Request{Namespace: ns, Image: image("v2"), Timeout: time.Minute})
	returned := time.Now()
	assert.NilError(t, err)
	t.Logf("rollout detected %v after the last pod became ready (whole wait: %v)", returned.Sub(kubelet.LastReady()), result.Elapsed)

	assert.Equal(t, len(result.Workloads), 2)
	for _, s := range result.Workloads {
		assert.Check(t, s.Done, "%s: %s", s.Workload(), s.State)
		assert.Check(t, is.Equal(s.Image, image("v2")), s.Workload())
		assert.Check(t, s.ObservedGeneration >= s.Generation, s.Workload())
		assert.Check(t, is.Equal(s.Available, s.Replicas), s.Workload())
		assert.Check(t, is.Equal(s.Updated, s.Replicas), s.Workload())
	}
}

func TestWaitProgressDeadlineExceeded(t *testing.T) {
	client := stacktest.KubeClient(t)
	ns := stacktest.CreateNamespace(t, client, "rollout-test-")
	fakekubelet.Start(t, client, ns)

	d := deployment("web", 2, image("v1"), fakekubelet.Pending)
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](1)
	createDeployment(t, client, ns, d)

	_, err := waiter(t, client).Wait(t.Context(), rollout.Request{Namespace: ns, Image: image("v1"), Timeout: time.Minute})
	failure := assertFailure(t, err, rollout.ErrProgressDeadline, "ProgressDeadlineExceeded", "0 of 2 updated replicas available")
	assert.Equal(t, failure.Workload, "deployment "+ns+"/web")
}

func TestWaitImagePullFailure(t *testing.T) {
	for _, reason := range []string{fakekubelet.ErrImagePull, fakekubelet.ImagePullBackOff} {
		t.Run(reason, func(t *testing.T) {
			client := stacktest.KubeClient(t)
			ns := stacktest.CreateNamespace(t, client, "rollout-test-")
			fakekubelet.Start(t, client, ns)
			createDeployment(t, client, ns, deployment("web", 2, image("v1"), reason))

			_, err := waiter(t, client).Wait(t.Context(), rollout.Request{Namespace: ns, Image: image("v1"), Timeout: time.Minute})
			failure := assertFailure(t, err, rollout.ErrImagePull,
				"container app: "+reason+": "+fmt.Sprintf(fakekubelet.PullErrorMessage, image("v1")), "pod web-")
			assert.Equal(t, failure.Workload, "deployment "+ns+"/web")
		})
	}
}

func TestWaitCrashLoopBackOff(t *testing.T) {
	client := stacktest.KubeClient(t)
	ns := stacktest.CreateNamespace(t, client, "rollout-test-")
	fakekubelet.Start(t, client, ns)
	createDeployment(t, client, ns, deployment("web", 1, image("v1"), fakekubelet.CrashLoop))

	_, err := waiter(t, client).Wait(t.Context(), rollout.Request{Namespace: ns, Image: image("v1"), Timeout: time.Minute})
	assertFailure(t, err, rollout.ErrCrashLoop,
		"CrashLoopBackOff after 3 restarts",
		"exit code 2 (Error): panic: missing DATABASE_URL | goroutine 1 [running]:")
}

func TestWaitUnschedulable(t *testing.T) {
	client := stacktest.KubeClient(t)
	ns := stacktest.CreateNamespace(t, client, "rollout-test-")
	fakekubelet.Start(t, client, ns)
	createDeployment(t, client, ns, deployment("web", 1, image("v1"), fakekubelet.Unschedulable))

	_, err := waiter(t, client).Wait(t.Context(), rollout.Request{Namespace: ns, Image: image("v1"), Timeout: time.Minute})
	assertFailure(t, err, rollout.ErrUnschedulable, "is unschedulable: "+fakekubelet.UnschedulableMessage)
}

func TestWaitOldImageInTemplate(t *testing.T) {
	client := stacktest.KubeClient(t)
	ns := stacktest.CreateNamespace(t, client, "rollout-test-")
	fakekubelet.Start(t, client, ns)
	createDeployment(t, client, ns, deployment("web", 1, image("v1"), fakekubelet.Ready))

	// The manifest with v2 is never applied, as when ArgoCD has not synced.
	result, err := waiter(t, client).Wait(t.Context(), rollout.Request{Namespace: ns, Image: image("v2"), Timeout: 2 * time.Second})
	assertFailure(t, err, rollout.ErrOldImage, "timed out after", "deployment "+ns+"/web: pod template uses "+image("v1"))
	assert.Assert(t, errors.Is(err, rollout.ErrTimeout))
	assert.Equal(t, len(result.Workloads), 1)
	assert.Equal(t, result.Workloads[0].Image, image("v1"))
}

func TestWaitDeadlineReportsState(t *testing.T) {
	client := stacktest.KubeClient(t)
	ns := stacktest.CreateNamespace(t, client, "rollout-test-")
	fakekubelet.Start(t, client, ns)
	createDeployment(t, client, ns, deployment("web", 2, image("v1"), fakekubelet.Pending))

	result, err := waiter(t, client).Wait(t.Context(), rollout.Request{Namespace: ns, Image: image("v1"), Timeout: 3 * time.Second})
	assertFailure(t, err, rollout.ErrTimeout, "timed out after 3", "deployment "+ns+"/web: 0 of 2 updated replicas available")
	assert.Assert(t, !errors.Is(err, rollout.ErrOldImage))
	assert.Equal(t, len(result.Workloads), 1)
	assert.Equal(t, result.Workloads[0].Done, false)
}

func TestWaitNoMatchingWorkload(t *testing.T) {
	client := stacktest.KubeClient(t)
	ns := stacktest.CreateNamespace(t, client, "rollout-test-")
	d := deployment("other", 1, "registry.incluster.test/shop/other@sha256:"+strings.Repeat("a", 64), fakekubelet.Pending)
	createDeployment(t, client, ns, d)

	_, err := waiter(t, client).Wait(t.Context(), rollout.Request{Namespace: ns, Image: image("v1"), Timeout: time.Minute})
	assertFailure(t, err, rollout.ErrNoWorkload, "no Deployment, StatefulSet or DaemonSet in namespace "+ns+" uses "+repository)
}
