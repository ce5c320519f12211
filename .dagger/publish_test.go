package main

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/pipeline/tag"
)

func TestCheckTagRejectsUpperCase(t *testing.T) {
	err := checkTag("V1-UPPER")
	assert.Check(t, is.ErrorIs(err, tag.ErrInvalidTag))
	assert.Check(t, is.ErrorContains(err, `would store "v1-upper"`))
}

func TestCheckTagAcceptsLowerCase(t *testing.T) {
	for _, value := range []string{"v1.2.3", "abc1234", "v1-rc_1"} {
		assert.Check(t, checkTag(value), "tag %q", value)
	}
}

func TestCheckTagRejectsInvalid(t *testing.T) {
	err := checkTag("-v1")
	assert.Check(t, is.ErrorIs(err, tag.ErrInvalidTag))
}
