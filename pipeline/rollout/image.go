package rollout

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
)

// parseImage parses the pushed reference, which must carry a digest
// because only a digest identifies the pushed image exactly.
func parseImage(ref string) (name.Digest, error) {
	d, err := name.NewDigest(ref)
	if err != nil {
		return name.Digest{}, fmt.Errorf("parsing image %q: %w (expected REPOSITORY[:TAG]@sha256:DIGEST)", ref, err)
	}
	return d, nil
}

// imageMatch is the relation of a container image to the pushed image.
type imageMatch int

const (
	otherRepository imageMatch = iota // another repository, or unparsable
	oldImage                          // same repository, another digest or no digest
	newImage                          // same repository and digest
)

func matchImage(want name.Digest, image string) imageMatch {
	ref, err := name.ParseReference(image)
	if err != nil || ref.Context().Name() != want.Context().Name() {
		return otherRepository
	}
	// NOTE: a template image without a digest (repository:tag) counts as
	// old, because a tag does not prove which image the kubelet pulls.
	if d, ok := ref.(name.Digest); ok && d.DigestStr() == want.DigestStr() {
		return newImage
	}
	return oldImage
}

// templateImage returns how a pod template relates to the pushed image:
// otherRepository when no container uses the repository, oldImage with the
// first old image when any container still uses one, else newImage.
func templateImage(want name.Digest, spec *corev1.PodSpec) (imageMatch, string) {
	result, image := otherRepository, ""
	for _, c := range containers(spec) {
		switch matchImage(want, c.Image) {
		case oldImage:
			return oldImage, c.Image
		case newImage:
			result, image = newImage, c.Image
		}
	}
	return result, image
}

func containers(spec *corev1.PodSpec) []corev1.Container {
	all := make([]corev1.Container, 0, len(spec.InitContainers)+len(spec.Containers))
	all = append(all, spec.InitContainers...)
	return append(all, spec.Containers...)
}
