package main

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

var testDigestImage = "registry.test/shop/web@sha256:" + strings.Repeat("a", 64)

func TestWaitRolloutUsageErrors(t *testing.T) {
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"wait-rollout"}, "expected IMAGE, got 0 arguments"},
		{[]string{"wait-rollout", testDigestImage, "extra"}, "expected IMAGE, got 2 arguments"},
		{[]string{"wait-rollout", "--timeout", "0s", testDigestImage}, "--timeout must be positive"},
	}
	for _, tc := range tests {
		r := runProgram(t, "", nil, tc.args...)
		assert.Check(t, is.Equal(r.code, 2), "args %q", tc.args)
		assert.Check(t, is.Contains(r.stderr, tc.stderr), "args %q", tc.args)
		assert.Check(t, is.Equal(r.stdout, ""), "args %q", tc.args)
	}
}

func TestWaitRolloutWithoutKubeconfig(t *testing.T) {
	r := runProgram(t, "", nil, "wait-rollout", testDigestImage)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "outside a cluster, give a kubeconfig file"))
}

func TestWaitRolloutMissingKubeconfig(t *testing.T) {
	r := runProgram(t, "", []string{"KUBECONFIG=/nonexistent/kubeconfig"}, "wait-rollout", testDigestImage)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "loading kubeconfig /nonexistent/kubeconfig"))
}
