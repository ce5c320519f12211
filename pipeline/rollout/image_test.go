package rollout

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

func TestMatchImage(t *testing.T) {
	digestA := "sha256:" + strings.Repeat("a", 64)
	digestB := "sha256:" + strings.Repeat("b", 64)
	want, err := parseImage("gitea.test:3000/shop/web:1.4@" + digestA)
	assert.NilError(t, err)

	tests := []struct {
		image string
		match imageMatch
	}{
		{"gitea.test:3000/shop/web@" + digestA, newImage},
		{"gitea.test:3000/shop/web:1.3@" + digestA, newImage},
		{"gitea.test:3000/shop/web@" + digestB, oldImage},
		{"gitea.test:3000/shop/web:1.4", oldImage},
		{"gitea.test:3000/shop/web", oldImage},
		{"gitea.test:3000/shop/api@" + digestA, otherRepository},
		{"other.test:3000/shop/web@" + digestA, otherRepository},
		{"not a reference", otherRepository},
	}
	for _, tc := range tests {
		assert.Check(t, matchImage(want, tc.image) == tc.match, "image %s: got %d, want %d", tc.image, matchImage(want, tc.image), tc.match)
	}
}

func TestParseImageRequiresDigest(t *testing.T) {
	_, err := parseImage("gitea.test:3000/shop/web:1.4")
	assert.ErrorContains(t, err, `parsing image "gitea.test:3000/shop/web:1.4"`)
}

func TestOneLine(t *testing.T) {
	assert.Equal(t, oneLine("panic: boom\n\ngoroutine 1 [running]:\n  main.main()\n"), "panic: boom | goroutine 1 [running]: | main.main()")
	assert.Equal(t, oneLine(""), "")
}
