package tag

import (
	"errors"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestValidateAccepts(t *testing.T) {
	for _, tag := range []string{
		"v0.1",
		"latest",
		"_private",
		"1a2b3c4",
		"v1.2.3-rc.1",
		"A_b.c-d",
		strings.Repeat("a", MaxLength),
	} {
		assert.NilError(t, Validate(tag), "tag %q", tag)
	}
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range []struct {
		tag    string
		reason string
	}{
		{"", "must not be empty"},
		{strings.Repeat("a", MaxLength+1), "at most 128 characters long, this one has 129"},
		{".hidden", "must start with a letter, a digit or '_'"},
		{"-x", "must start with a letter, a digit or '_'"},
		{"v1+build", "character '+' at position 3 is not allowed"},
		{"a/b", "character '/' at position 2 is not allowed"},
		{"a b", "character ' ' at position 2 is not allowed"},
		{"é1", "character 'é' at position 1 is not allowed"},
		{"v1:2", "character ':' at position 3 is not allowed"},
	} {
		err := Validate(tc.tag)
		assert.Check(t, is.ErrorIs(err, ErrInvalidTag), "tag %q", tc.tag)
		assert.Check(t, is.ErrorContains(err, tc.reason), "tag %q", tc.tag)
		var invalid *InvalidTagError
		assert.Check(t, errors.As(err, &invalid), "tag %q", tc.tag)
	}
}

func TestFromCommit(t *testing.T) {
	const sha = "0123456789ABCDEF0123456789abcdef01234567"

	short, err := FromCommit(sha, 0)
	assert.NilError(t, err)
	assert.Equal(t, short, "0123456")

	short, err = FromCommit(sha, 12)
	assert.NilError(t, err)
	assert.Equal(t, short, "0123456789ab")

	short, err = FromCommit(" "+sha+"\n", 40)
	assert.NilError(t, err)
	assert.Equal(t, short, strings.ToLower(sha))
	assert.NilError(t, Validate(short))
}

func TestFromCommitRejects(t *testing.T) {
	for _, tc := range []struct {
		sha    string
		length int
		want   string
	}{
		{"", 0, "commit SHA is empty"},
		{"0123456789xyz", 0, "character 'x' at position 11 is not hexadecimal"},
		{"abc12", 0, "has 5 digits, fewer than the 7 requested"},
		{"0123456789", 3, "short commit length 3: must be between 4 and 128"},
		{"0123456789", -1, "short commit length -1"},
	} {
		_, err := FromCommit(tc.sha, tc.length)
		assert.Check(t, is.ErrorContains(err, tc.want), "sha %q length %d", tc.sha, tc.length)
	}
}

func TestNext(t *testing.T) {
	for _, tc := range []struct {
		name string
		tags []string
		want string
	}{
		{"no tags", nil, "v0.1"},
		{"only other tags", []string{"latest", "abc1234", "main"}, "v0.1"},
		{"two numbers", []string{"v0.1"}, "v0.2"},
		{"three numbers", []string{"v1.2.3"}, "v1.2.4"},
		{"no prefix", []string{"1.4"}, "1.5"},
		{"highest by value not by string", []string{"v0.9", "v0.10", "v0.2"}, "v0.11"},
		{"missing patch is zero", []string{"v0.2", "v0.1.7"}, "v0.3"},
		{"patch above two numbers", []string{"v0.2", "v0.2.1"}, "v0.2.2"},
		{"equal value prefers three numbers", []string{"v1.2", "v1.2.0"}, "v1.2.1"},
		{"equal value prefers v prefix", []string{"1.2.0", "v1.2.0"}, "v1.2.1"},
		{"style of the highest", []string{"v1.0", "2.0.0"}, "2.0.1"},
		{"single number is ignored", []string{"1234567", "v0.3"}, "v0.4"},
		{"pre-release is ignored", []string{"v0.1", "v1.0.0-rc.1"}, "v0.2"},
		{"build metadata is ignored", []string{"v0.1", "v1.0.0+abc"}, "v0.2"},
		{"leading zero is ignored", []string{"v0.1", "v01.2"}, "v0.2"},
		{"four numbers are ignored", []string{"v0.1", "v1.2.3.4"}, "v0.2"},
		{"empty number is ignored", []string{"v0.1", "v1..2", "v1.", ".1"}, "v0.2"},
		{"overflow is ignored", []string{"v0.1", "v1.18446744073709551615"}, "v0.2"},
		{"carries no overflow", []string{"v1.18446744073709551614"}, "v1.18446744073709551615"},
		{"capital V is ignored", []string{"V2.0", "v0.1"}, "v0.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Next(tc.tags)
			assert.Equal(t, got, tc.want)
			assert.NilError(t, Validate(got))
		})
	}
}
