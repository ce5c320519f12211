// Package fakekubelet plays the kubelet and the scheduler for tests
// against the local stack's API server, which runs neither. It writes the
// status of new pods, so that the real workload controllers roll out and
// fail as on a cluster with nodes.
package fakekubelet

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"gotest.tools/v3/assert"
)

// Annotation on a pod template selects the status that the Kubelet
// writes for its pods: one of the behaviors below. Without it, pods become
// Running and Ready.
const Annotation = "test.incluster.dev/kubelet"

// Behaviors, the values of Annotation.
const (
	// Ready makes the pods Running and Ready.
	Ready = "Ready"
	// Pending leaves the pods without a status, as before scheduling.
	Pending = "Pending"
	// ErrImagePull and ImagePullBackOff make the containers wait with
	// that reason and PullErrorMessage.
	ErrImagePull     = "ErrImagePull"
	ImagePullBackOff = "ImagePullBackOff"
	// CrashLoop makes the containers wait in CrashLoopBackOff after a
	// termination with TerminationMessage.
	CrashLoop = "CrashLoopBackOff"
	// Unschedulable sets PodScheduled=False with UnschedulableMessage, as
	// the scheduler would.
	Unschedulable = "Unschedulable"
)

// Messages that the Kubelet writes, for tests to find in errors.
// PullErrorMessage is a format with the image as its argument.
const (
	PullErrorMessage     = `failed to pull and unpack image "%s": not found`
	TerminationMessage   = "panic: missing DATABASE_URL\n\ngoroutine 1 [running]:"
	UnschedulableMessage = "0/3 nodes are available: 3 Insufficient cpu."
)

// Kubelet replaces the kubelet and the scheduler, which the stack does not
// run. It watches the pods of one namespace and writes each new pod's
// status once, as a kubelet would report it, according to the pod's
// Annotation.
type Kubelet struct {
	t         testing.TB
	client    kubernetes.Interface
	ctx       context.Context
	mu        sync.Mutex
	handled   map[types.UID]bool
	lastReady time.Time
}

// Start starts a Kubelet for the pods of namespace and stops it when the
// test ends.
func Start(t testing.TB, client kubernetes.Interface, namespace string) *Kubelet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	k := &Kubelet{t: t, client: client, ctx: ctx, handled: map[types.UID]bool{}}
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
// from the Kubelet.
func (k *Kubelet) LastReady() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lastReady
}

func (k *Kubelet) handle(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.DeletionTimestamp != nil {
		return
	}
	k.mu.Lock()
	done := k.handled[pod.UID]
	k.mu.Unlock()
	behavior := pod.Annotations[Annotation]
	if done || behavior == Pending {
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
	if behavior == "" || behavior == Ready {
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
	if behavior == Unschedulable {
		c := condition(corev1.PodScheduled, corev1.ConditionFalse)
		c.Reason = corev1.PodReasonUnschedulable
		c.Message = UnschedulableMessage
		return corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{c}}
	}

	status := corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &now}
	ready := corev1.ConditionTrue
	for _, c := range pod.Spec.Containers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image}
		switch behavior {
		case ErrImagePull, ImagePullBackOff:
			status.Phase = corev1.PodPending
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: behavior, Message: fmt.Sprintf(PullErrorMessage, c.Image)}
		case CrashLoop:
			cs.RestartCount = 3
			cs.State.Waiting = &corev1.ContainerStateWaiting{
				Reason:  "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off 40s restarting failed container=%s pod=%s", c.Name, pod.Name),
			}
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
				ExitCode: 2, Reason: "Error", Message: TerminationMessage, StartedAt: now, FinishedAt: now,
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
