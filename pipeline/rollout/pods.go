package rollout

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
)

// pullFailures are the container waiting reasons of the kubelet that mean
// the image cannot be pulled.
var pullFailures = []string{"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}

// podFailure returns the first failure among the pods that run the new
// image, in pod name order, or nil. workload names the owner for the
// message. Pods being deleted and pods of an old template are skipped,
// because their problems do not concern this rollout.
func podFailure(want name.Digest, workload string, pods []*corev1.Pod) *Failure {
	pods = slices.Clone(pods)
	slices.SortFunc(pods, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if match, _ := templateImage(want, &pod.Spec); match != newImage {
			continue
		}
		if f := unschedulable(pod); f != "" {
			return &Failure{Workload: workload, Reasons: []error{ErrUnschedulable}, Message: f}
		}
		statuses := append(slices.Clone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...)
		for _, cs := range statuses {
			w := cs.State.Waiting
			if w == nil {
				continue
			}
			switch {
			case slices.Contains(pullFailures, w.Reason):
				return &Failure{
					Workload: workload,
					Reasons:  []error{ErrImagePull},
					Message:  fmt.Sprintf("pod %s container %s: %s: %s", pod.Name, cs.Name, w.Reason, oneLine(w.Message)),
				}
			case w.Reason == "CrashLoopBackOff":
				return &Failure{
					Workload: workload,
					Reasons:  []error{ErrCrashLoop},
					Message:  fmt.Sprintf("pod %s container %s: CrashLoopBackOff after %d restarts: %s", pod.Name, cs.Name, cs.RestartCount, lastTermination(cs)),
				}
			}
		}
	}
	return nil
}

func unschedulable(pod *corev1.Pod) string {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return fmt.Sprintf("pod %s is unschedulable: %s", pod.Name, oneLine(c.Message))
		}
	}
	return ""
}

// lastTermination describes how the container last stopped: its exit
// code, reason and termination message (the file at
// terminationMessagePath, or the log tail with FallbackToLogsOnError).
func lastTermination(cs corev1.ContainerStatus) string {
	t := cs.LastTerminationState.Terminated
	if t == nil {
		return "no last termination state recorded"
	}
	s := fmt.Sprintf("last terminated with exit code %d", t.ExitCode)
	if t.Reason != "" {
		s += " (" + t.Reason + ")"
	}
	if msg := oneLine(t.Message); msg != "" {
		s += ": " + msg
	}
	return s
}

// oneLine joins the lines of s with " | " so that a multi-line message
// fits the one-line error.
func oneLine(s string) string {
	var lines []string
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, " | ")
}
