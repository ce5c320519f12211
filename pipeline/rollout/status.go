package rollout

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// Status is the rollout state of one workload at one moment.
type Status struct {
	// Kind is Deployment, StatefulSet or DaemonSet.
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Image is the pod template's image of the pushed repository: the new
	// one, or the old one while the template has not been updated.
	Image string `json:"image"`
	// Generation is the workload's metadata.generation, and
	// ObservedGeneration the generation its controller last acted on.
	Generation         int64 `json:"generation"`
	ObservedGeneration int64 `json:"observedGeneration"`
	// Replicas is the desired number of pods (for a DaemonSet: the number
	// of nodes that should run one), and Updated, Ready and Available
	// count the pods of the current template in those states.
	Replicas  int32 `json:"replicas"`
	Updated   int32 `json:"updated"`
	Ready     int32 `json:"ready"`
	Available int32 `json:"available"`
	// Done reports whether the workload runs the new image on all its
	// replicas and is available.
	Done bool `json:"done"`
	// State describes the progress in a few words, such as
	// "2 of 3 updated replicas available".
	State string `json:"state"`

	// oldTemplate is set while the pod template uses an old image.
	oldTemplate bool
}

// Workload returns "kind namespace/name", such as "deployment shop/web".
func (s Status) Workload() string {
	return fmt.Sprintf("%s %s/%s", kindWord(s.Kind), s.Namespace, s.Name)
}

func kindWord(kind string) string {
	switch kind {
	case kindDeployment:
		return "deployment"
	case kindStatefulSet:
		return "statefulset"
	case kindDaemonSet:
		return "daemonset"
	}
	return kind
}

const (
	kindDeployment  = "Deployment"
	kindStatefulSet = "StatefulSet"
	kindDaemonSet   = "DaemonSet"
)

// newStatus fills the fields that all kinds share and reports whether the
// pod template already uses the new image.
func newStatus(want name.Digest, kind string, obj interface {
	GetNamespace() string
	GetName() string
	GetGeneration() int64
}, spec *corev1.PodSpec, observed int64) Status {
	match, image := templateImage(want, spec)
	s := Status{
		Kind:               kind,
		Namespace:          obj.GetNamespace(),
		Name:               obj.GetName(),
		Image:              image,
		Generation:         obj.GetGeneration(),
		ObservedGeneration: observed,
	}
	if match != newImage {
		s.oldTemplate = true
		s.State = fmt.Sprintf("pod template uses %s, not %s", image, want.DigestStr())
		if match == otherRepository {
			s.State = fmt.Sprintf("pod template no longer uses %s", want.Context().Name())
		}
	}
	return s
}

// deploymentStatus follows the checks of kubectl rollout status, and
// returns a Failure when the Deployment reports ProgressDeadlineExceeded
// for the current generation.
func deploymentStatus(want name.Digest, d *appsv1.Deployment) (Status, *Failure) {
	s := newStatus(want, kindDeployment, d, &d.Spec.Template.Spec, d.Status.ObservedGeneration)
	s.Replicas = ptr.Deref(d.Spec.Replicas, 1)
	s.Updated = d.Status.UpdatedReplicas
	s.Ready = d.Status.ReadyReplicas
	s.Available = d.Status.AvailableReplicas
	switch {
	case s.oldTemplate:
	case d.Status.ObservedGeneration < d.Generation:
		s.State = waitingForGeneration(d.Generation, d.Status.ObservedGeneration)
	case d.Spec.Paused:
		s.State = "rollout is paused (spec.paused is true)"
	case progressDeadlineExceeded(d):
		cond := deploymentCondition(d, appsv1.DeploymentProgressing)
		return s, &Failure{
			Workload: s.Workload(),
			Reasons:  []error{ErrProgressDeadline},
			Message:  fmt.Sprintf("ProgressDeadlineExceeded: %s (%d of %d updated replicas available)", oneLine(cond.Message), s.Available, s.Replicas),
		}
	case s.Updated < s.Replicas:
		s.State = fmt.Sprintf("%d of %d replicas updated", s.Updated, s.Replicas)
	case d.Status.Replicas > s.Updated:
		s.State = fmt.Sprintf("%d old replicas pending termination", d.Status.Replicas-s.Updated)
	case s.Available < s.Updated:
		s.State = fmt.Sprintf("%d of %d updated replicas available", s.Available, s.Updated)
	default:
		s.Done = true
		s.State = fmt.Sprintf("%d of %d updated replicas available", s.Available, s.Replicas)
	}
	return s, nil
}

func deploymentCondition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func progressDeadlineExceeded(d *appsv1.Deployment) bool {
	c := deploymentCondition(d, appsv1.DeploymentProgressing)
	return c != nil && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded"
}

// statefulSetStatus follows the checks of kubectl rollout status,
// including a partitioned rolling update.
func statefulSetStatus(want name.Digest, sts *appsv1.StatefulSet) Status {
	s := newStatus(want, kindStatefulSet, sts, &sts.Spec.Template.Spec, sts.Status.ObservedGeneration)
	s.Replicas = ptr.Deref(sts.Spec.Replicas, 1)
	s.Updated = sts.Status.UpdatedReplicas
	s.Ready = sts.Status.ReadyReplicas
	s.Available = sts.Status.AvailableReplicas
	var partition int32
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = *ru.Partition
	}
	switch {
	case s.oldTemplate:
	case sts.Status.ObservedGeneration < sts.Generation:
		s.State = waitingForGeneration(sts.Generation, sts.Status.ObservedGeneration)
	case s.Ready < s.Replicas:
		s.State = fmt.Sprintf("%d of %d replicas ready", s.Ready, s.Replicas)
	case partition > 0 && s.Updated < s.Replicas-partition:
		s.State = fmt.Sprintf("%d of %d replicas updated (partition %d)", s.Updated, s.Replicas-partition, partition)
	case partition <= 0 && sts.Status.UpdateRevision != sts.Status.CurrentRevision:
		s.State = fmt.Sprintf("%d of %d replicas updated", s.Updated, s.Replicas)
		if sts.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
			s.State += " (update strategy OnDelete: pods change only when deleted)"
		}
	case s.Available < s.Replicas:
		s.State = fmt.Sprintf("%d of %d replicas available", s.Available, s.Replicas)
	default:
		s.Done = true
		s.State = fmt.Sprintf("%d of %d replicas updated and available", s.Replicas, s.Replicas)
	}
	return s
}

// daemonSetStatus follows the checks of kubectl rollout status.
func daemonSetStatus(want name.Digest, ds *appsv1.DaemonSet) Status {
	s := newStatus(want, kindDaemonSet, ds, &ds.Spec.Template.Spec, ds.Status.ObservedGeneration)
	s.Replicas = ds.Status.DesiredNumberScheduled
	s.Updated = ds.Status.UpdatedNumberScheduled
	s.Ready = ds.Status.NumberReady
	s.Available = ds.Status.NumberAvailable
	switch {
	case s.oldTemplate:
	case ds.Status.ObservedGeneration < ds.Generation:
		s.State = waitingForGeneration(ds.Generation, ds.Status.ObservedGeneration)
	case s.Updated < s.Replicas:
		s.State = fmt.Sprintf("%d of %d pods updated", s.Updated, s.Replicas)
	case s.Available < s.Replicas:
		s.State = fmt.Sprintf("%d of %d updated pods available", s.Available, s.Replicas)
	default:
		s.Done = true
		s.State = fmt.Sprintf("%d of %d pods updated and available", s.Available, s.Replicas)
	}
	return s
}

func waitingForGeneration(generation, observed int64) string {
	return fmt.Sprintf("waiting for the controller to observe generation %d (observed %d)", generation, observed)
}
