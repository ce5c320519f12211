package main

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestTokenSecretUsageErrors(t *testing.T) {
	cases := map[string][]string{
		"no name":           {"next-tag", "--token-secret", "ns", "127.0.0.1:1/o/a"},
		"empty namespace":   {"next-tag", "--token-secret", "/name", "127.0.0.1:1/o/a"},
		"nested name":       {"next-tag", "--token-secret", "ns/a/b", "127.0.0.1:1/o/a"},
		"with token file":   {"next-tag", "--token-secret", "ns/name", "--token-file", "-", "127.0.0.1:1/o/a"},
		"kubeconfig alone":  {"next-tag", "--kubeconfig", "/nonexistent", "127.0.0.1:1/o/a"},
		"push no name":      {"push", "--token-secret", "ns", t.TempDir(), "127.0.0.1:1/o/a:v1"},
		"push with file":    {"push", "--token-secret", "ns/name", "--token-file", "-", t.TempDir(), "127.0.0.1:1/o/a:v1"},
		"next-tag key only": {"next-tag", "--token-secret", ":key", "127.0.0.1:1/o/a"},
	}
	for name, args := range cases {
		r := runProgram(t, "", []string{"INCLUSTER_USERNAME=owner"}, args...)
		assert.Check(t, is.Equal(r.code, 2), "%s: stderr: %s", name, r.stderr)
		assert.Check(t, strings.Contains(r.stderr, "--"), "%s: stderr names no flag: %s", name, r.stderr)
	}
}

func TestTokenSecretWithoutCluster(t *testing.T) {
	r := runProgram(t, "", []string{"INCLUSTER_USERNAME=owner"}, "next-tag", "--token-secret", "ns/name", "127.0.0.1:1/o/a")
	assert.Check(t, is.Equal(r.code, 1), "stderr: %s", r.stderr)
	assert.Check(t, is.Contains(r.stderr, "in-cluster"))
}
