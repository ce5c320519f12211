package rollout

import (
	"errors"
	"fmt"
)

// Sentinel errors for the conditions that callers branch on. Wait returns
// them wrapped in a *Failure, so errors.Is and errors.As both apply.
var (
	// ErrNoWorkload means that no Deployment, StatefulSet or DaemonSet in
	// the namespace uses the image repository, or that one was deleted
	// during the rollout.
	ErrNoWorkload = errors.New("no workload uses the image")
	// ErrTimeout means that the deadline passed before every workload was
	// rolled out. The Failure message carries the state at that moment.
	ErrTimeout = errors.New("rollout timed out")
	// ErrOldImage means that a workload's pod template still used another
	// image of the repository when the deadline passed: the manifest with
	// the new image has not been applied (ArgoCD has not synced yet). It
	// always comes together with ErrTimeout.
	ErrOldImage = errors.New("pod template still uses an old image")
	// ErrProgressDeadline means that a Deployment reports the condition
	// Progressing=False with reason ProgressDeadlineExceeded.
	ErrProgressDeadline = errors.New("progress deadline exceeded")
	// ErrImagePull means that a pod of the new image waits in
	// ErrImagePull, ImagePullBackOff, InvalidImageName or ErrImageNeverPull.
	ErrImagePull = errors.New("image pull failed")
	// ErrCrashLoop means that a container of the new image is in
	// CrashLoopBackOff.
	ErrCrashLoop = errors.New("container crash loop")
	// ErrUnschedulable means that the scheduler cannot place a pod of the
	// new image (PodScheduled=False, reason Unschedulable).
	ErrUnschedulable = errors.New("pod unschedulable")
)

// Failure is the error that Wait returns when a rollout fails or times
// out. Error returns one line that names the workload and the reason.
type Failure struct {
	// Workload is "kind namespace/name" of the workload that failed, or
	// empty when the failure concerns the whole rollout (ErrNoWorkload,
	// ErrTimeout).
	Workload string
	// Reasons are the sentinel errors that apply, such as ErrCrashLoop, or
	// ErrTimeout and ErrOldImage together.
	Reasons []error
	// Message is the cause as read from the objects, such as the image
	// pull error or the last termination message.
	Message string
}

// Error returns "rollout failed: WORKLOAD: MESSAGE" on one line.
func (f *Failure) Error() string {
	if f.Workload == "" {
		return fmt.Sprintf("rollout failed: %s", f.Message)
	}
	return fmt.Sprintf("rollout failed: %s: %s", f.Workload, f.Message)
}

// Unwrap returns the sentinel errors, for errors.Is.
func (f *Failure) Unwrap() []error { return f.Reasons }
