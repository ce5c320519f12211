// Package tag validates image tags and derives new ones from a git commit
// or from the semantic versions a registry already holds.
package tag

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// MaxLength is the maximum length of a tag in the OCI distribution
// specification (v1.1, "Pulling manifests").
const MaxLength = 128

// DefaultShortLength is the short SHA length of FromCommit, as in
// git's default abbreviation.
const DefaultShortLength = 7

// ErrInvalidTag is the sentinel wrapped by every error that Validate returns.
var ErrInvalidTag = errors.New("invalid tag")

// InvalidTagError is returned by Validate with the reason a registry
// would reject the tag.
type InvalidTagError struct {
	Tag    string
	Reason string
}

func (e *InvalidTagError) Error() string {
	return fmt.Sprintf("invalid tag %q: %s", e.Tag, e.Reason)
}

// Unwrap returns ErrInvalidTag so that callers can use errors.Is.
func (e *InvalidTagError) Unwrap() error { return ErrInvalidTag }

// Validate checks tag against the OCI distribution rule
// [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} and returns an *InvalidTagError
// with the reason when it does not match.
func Validate(tag string) error {
	invalid := func(format string, args ...any) error {
		return &InvalidTagError{Tag: tag, Reason: fmt.Sprintf(format, args...)}
	}
	if tag == "" {
		return invalid("a tag must not be empty")
	}
	if len(tag) > MaxLength {
		return invalid("a tag is at most %d characters long, this one has %d", MaxLength, len(tag))
	}
	position := 0
	for _, r := range tag {
		position++
		if position == 1 && (r == '.' || r == '-') {
			return invalid("a tag must start with a letter, a digit or '_', not %q", r)
		}
		if !isTagChar(r) {
			return invalid("character %q at position %d is not allowed: a tag may contain only letters, digits, '_', '.' and '-'", r, position)
		}
	}
	return nil
}

func isTagChar(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	case r == '_' || r == '.' || r == '-':
		return true
	}
	return false
}

// FromCommit returns the first length hexadecimal digits of the commit
// SHA sha, in lower case. A length of 0 means DefaultShortLength. The SHA
// must be hexadecimal, at least length digits long, and length must be
// at least 4, the shortest abbreviation git accepts.
func FromCommit(sha string, length int) (string, error) {
	if length == 0 {
		length = DefaultShortLength
	}
	if length < 4 || length > MaxLength {
		return "", fmt.Errorf("short commit length %d: must be between 4 and %d", length, MaxLength)
	}
	sha = strings.ToLower(strings.TrimSpace(sha))
	if sha == "" {
		return "", errors.New("commit SHA is empty")
	}
	for i, r := range sha {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return "", fmt.Errorf("commit SHA %q: character %q at position %d is not hexadecimal", sha, r, i+1)
		}
	}
	if len(sha) < length {
		return "", fmt.Errorf("commit SHA %q has %d digits, fewer than the %d requested", sha, len(sha), length)
	}
	return sha[:length], nil
}

// TagLister lists the tags of a repository. A repository that does not
// exist yet has no tags and is not an error. An error names the
// operation and the repository. *registry.Client implements it.
type TagLister interface {
	Tags(ctx context.Context, repository string) ([]string, error)
}

// NextFromRegistry lists the tags of repository (such as
// 127.0.0.1:3000/owner/app) and returns Next of them.
func NextFromRegistry(ctx context.Context, lister TagLister, repository string) (string, error) {
	tags, err := lister.Tags(ctx, repository)
	if err != nil {
		// The lister's error already starts with "list tags of REPOSITORY".
		return "", err
	}
	return Next(tags), nil
}
