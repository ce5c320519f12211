package manifest

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// target is a validated Update.
type target struct {
	image  string // normalized repository name, see repositoryKey
	tag    string
	digest string
}

// reference is an image reference split as written: repository[:tag][@digest].
type reference struct {
	repository string
	tag        string
	digest     string
}

func (r reference) String() string {
	s := r.repository
	if r.tag != "" {
		s += ":" + r.tag
	}
	if r.digest != "" {
		s += "@" + r.digest
	}
	return s
}

func parseUpdate(u Update) (target, error) {
	if strings.Contains(u.Image, "@") || hasTag(u.Image) {
		return target{}, fmt.Errorf("check image %q: name a repository without tag or digest: %w", u.Image, ErrInvalidUpdate)
	}
	repo, err := name.NewRepository(u.Image)
	if err != nil {
		if lower := strings.ToLower(u.Image); lower != u.Image {
			if _, lowerErr := name.NewRepository(lower); lowerErr == nil {
				return target{}, fmt.Errorf("check image %q: repository names must be lowercase: %w", u.Image, ErrInvalidUpdate)
			}
		}
		return target{}, fmt.Errorf("check image %q: %v: %w", u.Image, err, ErrInvalidUpdate)
	}
	if u.Tag == "" && u.Digest == "" {
		return target{}, fmt.Errorf("check update for %s: tag or digest required: %w", u.Image, ErrInvalidUpdate)
	}
	if u.Tag != "" {
		if _, err := name.NewTag(u.Image + ":" + u.Tag); err != nil {
			return target{}, fmt.Errorf("check tag %q: %v: %w", u.Tag, err, ErrInvalidUpdate)
		}
	}
	if u.Digest != "" {
		if _, err := name.NewDigest(u.Image + "@" + u.Digest); err != nil {
			return target{}, fmt.Errorf("check digest %q: %v: %w", u.Digest, err, ErrInvalidUpdate)
		}
	}
	return target{image: repositoryKey(repo), tag: u.Tag, digest: u.Digest}, nil
}

// hasTag reports whether s ends in ":tag", that is, has a colon after its
// last slash. The colon of a registry port comes before a slash.
func hasTag(s string) bool {
	return strings.LastIndexByte(s, ':') > strings.LastIndexByte(s, '/')
}

// repositoryKey returns the name used to compare repositories. The registry
// host is lowercased because host names are case-insensitive. The
// go-containerregistry name package already maps "docker.io" to
// "index.docker.io" and adds "library/" to single-component Docker Hub names.
func repositoryKey(r name.Repository) string {
	return strings.ToLower(r.RegistryStr()) + "/" + r.RepositoryStr()
}

// parseReference splits s into repository, tag and digest and validates
// each. It returns the repository's comparison key.
func parseReference(s string) (reference, string, error) {
	rest, digest, hasDigest := strings.Cut(s, "@")
	ref := reference{repository: rest, digest: digest}
	if hasTag(rest) {
		i := strings.LastIndexByte(rest, ':')
		ref.repository, ref.tag = rest[:i], rest[i+1:]
		if ref.tag == "" {
			return reference{}, "", fmt.Errorf("parse reference %q: empty tag", s)
		}
	}
	repo, err := name.NewRepository(ref.repository)
	if err != nil {
		return reference{}, "", err
	}
	if ref.tag != "" {
		if _, err := name.NewTag(ref.repository + ":" + ref.tag); err != nil {
			return reference{}, "", err
		}
	}
	if hasDigest {
		if _, err := name.NewDigest(ref.repository + "@" + ref.digest); err != nil {
			return reference{}, "", err
		}
	}
	return ref, repositoryKey(repo), nil
}

// apply returns the tag and digest a reference should carry after the
// update, given its current tag and digest.
func (t target) apply(tag, digest string) (string, string) {
	newTag, newDigest := tag, digest
	if t.tag != "" {
		newTag = t.tag
	}
	switch {
	case t.digest != "":
		newDigest = t.digest
	case newTag != tag:
		newDigest = ""
	}
	return newTag, newDigest
}
