// Package rollout waits until the Kubernetes workloads that use an image
// repository run a pushed image, and reports in one line why they do not.
//
// Wait finds the Deployments, StatefulSets and DaemonSets of a namespace
// whose pod templates use the repository of the pushed reference. It then
// watches them and their pods with informers, without polling. A workload
// is done when it has observed its latest generation, runs the pushed
// digest on all updated replicas and is available.
//
// Wait stops at the first failure that usually needs a fix rather than
// time: a Deployment's ProgressDeadlineExceeded, a pod of the new image in
// ImagePullBackOff, ErrImagePull or CrashLoopBackOff, or an unschedulable
// pod. NOTE: the kubelet retries pulls, so a registry that is down for a
// moment also ends the wait with ErrImagePull.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Request names the rollout to wait for.
type Request struct {
	// Namespace holds the workloads. Required.
	Namespace string
	// Image is the pushed reference with its digest, such as
	// gitea.example:3000/shop/web:1.4@sha256:…. A workload matches when a
	// container or init container of its pod template uses the same
	// repository (registry host and path).
	Image string
	// Timeout bounds the wait; zero leaves only the context's deadline.
	Timeout time.Duration
}

// Result is the outcome of Wait, filled on success and on failure.
type Result struct {
	Image string `json:"image"`
	// Workloads holds the last state of each matching workload.
	Workloads []Status `json:"workloads"`
	// Elapsed is the time Wait took.
	Elapsed time.Duration `json:"elapsedNanoseconds"`
}

// Waiter waits for rollouts through a Kubernetes API client.
type Waiter struct {
	Client kubernetes.Interface
	// Logger receives a line for each change of a workload's state; nil
	// discards them.
	Logger *slog.Logger
}

// target is a workload that Wait follows.
type target struct {
	kind, name string
	selector   labels.Selector
}

// Wait blocks until every workload that uses the repository of
// req.Image has rolled it out, a workload fails, or the deadline passes.
// Errors are a *Failure wrapping one of the package's sentinel errors,
// except for invalid requests, API errors and a canceled context.
func (w *Waiter) Wait(ctx context.Context, req Request) (Result, error) {
	start := time.Now()
	result := Result{Image: req.Image}
	if req.Namespace == "" {
		return result, errors.New("waiting for rollout: missing namespace")
	}
	want, err := parseImage(req.Image)
	if err != nil {
		return result, err
	}
	logger := w.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}

	// A first list through the client reports a forbidden or unreachable
	// API server at once, where an informer would retry until the deadline.
	targets, err := w.findTargets(ctx, req.Namespace, want)
	if err != nil {
		return result, err
	}
	if len(targets) == 0 {
		return result, &Failure{
			Reasons: []error{ErrNoWorkload},
			Message: fmt.Sprintf("no Deployment, StatefulSet or DaemonSet in namespace %s uses %s", req.Namespace, want.Context().Name()),
		}
	}

	factory := informers.NewSharedInformerFactoryWithOptions(w.Client, 0, informers.WithNamespace(req.Namespace))
	listers := newListers(factory, req.Namespace)
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	for _, informer := range listers.informers {
		if _, err := informer.AddEventHandler(handler); err != nil {
			return result, fmt.Errorf("watching namespace %s: %w", req.Namespace, err)
		}
	}
	stop := make(chan struct{})
	defer func() {
		close(stop)
		factory.Shutdown()
	}()
	factory.Start(stop)
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return w.finish(ctx, &result, start, req, listers, want, targets, fmt.Errorf("syncing the watch of %v", typ))
		}
	}

	last := map[string]string{}
	for {
		statuses, failure := evaluate(want, targets, listers)
		result.Workloads = statuses
		result.Elapsed = time.Since(start)
		for _, s := range statuses {
			if last[s.Workload()] != s.State {
				last[s.Workload()] = s.State
				logger.Info("rollout progress", "workload", s.Workload(), "state", s.State, "done", s.Done)
			}
		}
		if failure != nil {
			return result, failure
		}
		if allDone(statuses) {
			return result, nil
		}
		select {
		case <-ctx.Done():
			return w.finish(ctx, &result, start, req, listers, want, targets, nil)
		case <-changed:
		}
	}
}

// finish builds the error for a context that ended before the rollout
// did: a timeout Failure with the current state of every unfinished
// workload, or the context's error when it was canceled.
func (w *Waiter) finish(ctx context.Context, result *Result, start time.Time, req Request, l *listers, want name.Digest, targets []target, cause error) (Result, error) {
	result.Elapsed = time.Since(start)
	if ctx.Err() == nil {
		return *result, cause
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return *result, fmt.Errorf("waiting for rollout of %s: %w", req.Image, ctx.Err())
	}
	statuses, failure := evaluate(want, targets, l)
	if len(statuses) > 0 {
		result.Workloads = statuses
	}
	if failure != nil {
		return *result, failure
	}
	reasons := []error{ErrTimeout}
	var pending []string
	for _, s := range result.Workloads {
		if s.Done {
			continue
		}
		if s.oldTemplate && len(reasons) == 1 {
			reasons = append(reasons, ErrOldImage)
		}
		pending = append(pending, s.Workload()+": "+s.State)
	}
	if len(pending) == 0 {
		pending = append(pending, "state unknown: the watch never synced")
	}
	return *result, &Failure{
		Reasons: reasons,
		Message: fmt.Sprintf("timed out after %s: %s", result.Elapsed.Round(time.Millisecond), strings.Join(pending, "; ")),
	}
}

func (w *Waiter) findTargets(ctx context.Context, namespace string, want name.Digest) ([]target, error) {
	apps := w.Client.AppsV1()
	var targets []target
	add := func(kind, name string, spec *corev1.PodSpec, selector *metav1.LabelSelector) error {
		if match, _ := templateImage(want, spec); match == otherRepository {
			return nil
		}
		sel, err := metav1.LabelSelectorAsSelector(selector)
		if err != nil {
			return fmt.Errorf("parsing the selector of %s %s/%s: %w", kindWord(kind), namespace, name, err)
		}
		targets = append(targets, target{kind: kind, name: name, selector: sel})
		return nil
	}

	deployments, err := apps.Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing deployments in namespace %s: %w", namespace, err)
	}
	for i := range deployments.Items {
		d := &deployments.Items[i]
		if err := add(kindDeployment, d.Name, &d.Spec.Template.Spec, d.Spec.Selector); err != nil {
			return nil, err
		}
	}
	statefulSets, err := apps.StatefulSets(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing statefulsets in namespace %s: %w", namespace, err)
	}
	for i := range statefulSets.Items {
		s := &statefulSets.Items[i]
		if err := add(kindStatefulSet, s.Name, &s.Spec.Template.Spec, s.Spec.Selector); err != nil {
			return nil, err
		}
	}
	daemonSets, err := apps.DaemonSets(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing daemonsets in namespace %s: %w", namespace, err)
	}
	for i := range daemonSets.Items {
		d := &daemonSets.Items[i]
		if err := add(kindDaemonSet, d.Name, &d.Spec.Template.Spec, d.Spec.Selector); err != nil {
			return nil, err
		}
	}
	return targets, nil
}

// evaluate returns the state of every target from the informer caches,
// and the first failure found.
func evaluate(want name.Digest, targets []target, l *listers) ([]Status, *Failure) {
	statuses := make([]Status, 0, len(targets))
	for _, t := range targets {
		s, failure := evaluateTarget(want, t, l)
		if failure != nil {
			return statuses, failure
		}
		statuses = append(statuses, s)
	}
	return statuses, nil
}

func evaluateTarget(want name.Digest, t target, l *listers) (Status, *Failure) {
	var (
		s       Status
		failure *Failure
		err     error
	)
	switch t.kind {
	case kindDeployment:
		var d *appsv1.Deployment
		if d, err = l.deployments.Get(t.name); err == nil {
			s, failure = deploymentStatus(want, d)
		}
	case kindStatefulSet:
		var sts *appsv1.StatefulSet
		if sts, err = l.statefulSets.Get(t.name); err == nil {
			s = statefulSetStatus(want, sts)
		}
	case kindDaemonSet:
		var ds *appsv1.DaemonSet
		if ds, err = l.daemonSets.Get(t.name); err == nil {
			s = daemonSetStatus(want, ds)
		}
	}
	workload := fmt.Sprintf("%s %s/%s", kindWord(t.kind), l.namespace, t.name)
	if apierrors.IsNotFound(err) {
		return s, &Failure{Workload: workload, Reasons: []error{ErrNoWorkload}, Message: "deleted during the rollout"}
	}
	if err != nil {
		return s, &Failure{Workload: workload, Message: fmt.Sprintf("reading from the watch cache: %v", err)}
	}
	if failure != nil || s.Done || s.oldTemplate {
		return s, failure
	}
	pods, err := l.pods.List(t.selector)
	if err != nil {
		return s, &Failure{Workload: workload, Message: fmt.Sprintf("listing pods from the watch cache: %v", err)}
	}
	return s, podFailure(want, workload, pods)
}

func allDone(statuses []Status) bool {
	for _, s := range statuses {
		if !s.Done {
			return false
		}
	}
	return true
}
