package main

import (
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/pipeline/rollout"
)

func TestTrimToken(t *testing.T) {
	for _, plaintext := range []string{"s3cr3t", "s3cr3t\n", "s3cr3t\r\n", "  s3cr3t \t\n"} {
		token, err := trimToken(plaintext)
		assert.Check(t, err, "token %q", plaintext)
		assert.Check(t, is.Equal(token, "s3cr3t"), "token %q", plaintext)
	}
}

func TestTrimTokenRejectsEmpty(t *testing.T) {
	for _, plaintext := range []string{"", "\n", " \t\r\n"} {
		_, err := trimToken(plaintext)
		assert.Check(t, is.ErrorContains(err, "--token is empty"), "token %q", plaintext)
	}
}

func TestParseTimeout(t *testing.T) {
	timeout, err := parseTimeout("90s")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(timeout, 90*time.Second))

	_, err = parseTimeout("5")
	assert.Check(t, is.ErrorContains(err, `invalid timeout "5"`))
	_, err = parseTimeout("0s")
	assert.Check(t, is.ErrorContains(err, "must be positive"))
	_, err = parseTimeout("-1m")
	assert.Check(t, is.ErrorContains(err, "must be positive"))
}

func TestResultLine(t *testing.T) {
	result := rollout.Result{
		Image: "reg/shop/web:v2@sha256:abc",
		Workloads: []rollout.Status{
			{Kind: "Deployment", Namespace: "shop", Name: "web", State: "3 of 3 updated replicas available"},
			{Kind: "StatefulSet", Namespace: "shop", Name: "db", State: "2 of 2 updated replicas ready"},
		},
		Elapsed: 1234567 * time.Microsecond,
	}
	assert.Check(t, is.Equal(resultLine(result),
		"rolled out reg/shop/web:v2@sha256:abc in 1.235s: deployment shop/web: 3 of 3 updated replicas available; statefulset shop/db: 2 of 2 updated replicas ready"))
}
