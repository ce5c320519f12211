//go:build stack

package rollout_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"gotest.tools/v3/assert"
)

// kubeletAnnotation on a pod template selects the status that fakeKubelet
// writes for its pods: one of the kubelet* values below. Without it, pods
// become Running and Ready.
const kubeletAnnotation = "test.incluster.dev/kubelet"

const (
	kubeletReady            = "Ready"
	kubeletPending          = "Pending"
	kubeletErrImagePull     = "ErrImagePull"
	kubeletImagePullBackOff = "ImagePullBackOff"
	kubeletCrashLoop        = "CrashLoopBackOff"
	kubeletUnschedulable    = "Unschedulable"
)

// Messages that fakeKubelet writes, for the tests to find in errors.
const (
	pullErrorMessage   = `failed to pull and unpack image "%s": not found`
	terminationMessage = "panic: missing DATABASE_URL\n\ngoroutine 1 [running]:"
	unschedulableText  = "0/3 nodes are available: 3 Insufficient cpu."
)

// kubeClient returns a client for the stack's API server (hack/stack
// component kube), failing t when the stack's variables are missing.
func kubeClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	path := os.Getenv("INCLUSTER_KUBECONFIG")
	if path == "" {
		t.Fatal("INCLUSTER_KUBECONFIG is not set: run the stack tests through hack/test, or run hack/stack up and eval \"$(hack/stack env)\" first")
	}
	config, err := clientcmd.BuildConfigFromFlags("", path)
	assert.NilError(t, err)
	client, err := kubernetes.NewForConfig(config)
	assert.NilError(t, err)
	return client
}

// createNamespace creates a namespace for one test and deletes it at the
// end; the namespace controller then removes what it contains.
func createNamespace(t *testing.T, client kubernetes.Interface) string {
	t.Helper()
	ns, err := client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "rollout-test-"},
	}, metav1.CreateOptions{})
	assert.NilError(t, err)
	t.Cleanup(func() {
		err := client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
		if err != nil {
			t.Logf("deleting namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}

// fakeKubelet replaces the kubelet and the scheduler, which the stack does
// not run. It watches the pods of one namespace and writes
// each new pod's status once, as a kubelet would report it, according to
// the pod's kubeletAnnotation.
type fakeKubelet struct {
	t         *testing.T
	client    kubernetes.Interface
	ctx       context.Context
	mu        sync.Mutex
	handled   map[types.UID]bool
	lastReady time.Time
}

func startKubelet(t *testing.T, client kubernetes.Interface, namespace string) *fakeKubelet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	k := &fakeKubelet{t: t, client: client, ctx: ctx, handled: map[types.UID]bool{}}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(namespace))
	informer := factory.Core().V1().Pods().Informer()
	_, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    k.handle,
		UpdateFunc: func(_, obj any) { k.handle(obj) },
	})
	assert.NilError(t, err)
	factory.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		factory.Shutdown()
	})
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		assert.Assert(t, ok, "syncing the pod watch of %v", typ)
	}
	return k
}

// LastReady returns when the API server last accepted a Ready status
// from the fake kubelet.
func (k *fakeKubelet) LastReady() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lastReady
}

func (k *fakeKubelet) handle(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.DeletionTimestamp != nil {
		return
	}
	k.mu.Lock()
	done := k.handled[pod.UID]
	k.mu.Unlock()
	behavior := pod.Annotations[kubeletAnnotation]
	if done || behavior == kubeletPending {
		return
	}
	pod = pod.DeepCopy()
	pod.Status = podStatus(pod, behavior)
	_, err := k.client.CoreV1().Pods(pod.Namespace).UpdateStatus(k.ctx, pod, metav1.UpdateOptions{})
	if err != nil {
		// A conflict means a newer version exists, whose update event
		// comes next and retries. Other errors end the test's pods.
		if k.ctx.Err() == nil {
			k.t.Logf("fake kubelet: updating the status of pod %s: %v", pod.Name, err)
		}
		return
	}
	k.mu.Lock()
	k.handled[pod.UID] = true
	if behavior == "" || behavior == kubeletReady {
		k.lastReady = time.Now()
	}
	k.mu.Unlock()
}

// podStatus returns the status a kubelet (or, for Unschedulable, the
// scheduler) would report for the pod.
func podStatus(pod *corev1.Pod, behavior string) corev1.PodStatus {
	now := metav1.Now()
	condition := func(t corev1.PodConditionType, s corev1.ConditionStatus) corev1.PodCondition {
		return corev1.PodCondition{Type: t, Status: s, LastTransitionTime: now}
	}
	if behavior == kubeletUnschedulable {
		c := condition(corev1.PodScheduled, corev1.ConditionFalse)
		c.Reason = corev1.PodReasonUnschedulable
		c.Message = unschedulableText
		return corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{c}}
	}

	status := corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &now}
	ready := corev1.ConditionTrue
	for _, c := range pod.Spec.Containers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image}
		switch behavior {
		case kubeletErrImagePull, kubeletImagePullBackOff:
			status.Phase = corev1.PodPending
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: behavior, Message: fmt.Sprintf(pullErrorMessage, c.Image)}
		case kubeletCrashLoop:
			cs.RestartCount = 3
			cs.State.Waiting = &corev1.ContainerStateWaiting{
				Reason:  "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off 40s restarting failed container=%s pod=%s", c.Name, pod.Name),
			}
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
				ExitCode: 2, Reason: "Error", Message: terminationMessage, StartedAt: now, FinishedAt: now,
			}
		default:
			started := true
			cs.Ready, cs.Started = true, &started
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
		}
		if !cs.Ready {
			ready = corev1.ConditionFalse
		}
		status.ContainerStatuses = append(status.ContainerStatuses, cs)
	}
	status.Conditions = []corev1.PodCondition{
		condition(corev1.PodScheduled, corev1.ConditionTrue),
		condition(corev1.PodInitialized, corev1.ConditionTrue),
		condition(corev1.ContainersReady, ready),
		condition(corev1.PodReady, ready),
	}
	return status
}
