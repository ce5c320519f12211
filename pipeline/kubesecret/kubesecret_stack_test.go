//go:build stack

package kubesecret_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/internal/stacktest"
	"github.com/incluster/incluster/pipeline/kubesecret"
)

// setup returns a client for the stack's API server and a namespace that
// holds a Secret "registry" with the keys token and other.
func setup(t *testing.T) (kubernetes.Interface, string) {
	t.Helper()
	client := stacktest.KubeClient(t)
	namespace := stacktest.CreateNamespace(t, client, "kubesecret-test-")
	_, err := client.CoreV1().Secrets(namespace).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "registry"},
		Data: map[string][]byte{
			"token": []byte("s3cret-token\n"),
			"other": []byte("  \n"),
		},
	}, metav1.CreateOptions{})
	assert.NilError(t, err)
	return client, namespace
}

func TestTokenDefaultKey(t *testing.T) {
	client, ns := setup(t)
	token, err := kubesecret.Token(t.Context(), client, ns, "registry", "")
	assert.NilError(t, err)
	assert.Equal(t, token, "s3cret-token")
}

func TestTokenNamedKey(t *testing.T) {
	client, ns := setup(t)
	token, err := kubesecret.Token(t.Context(), client, ns, "registry", "token")
	assert.NilError(t, err)
	assert.Equal(t, token, "s3cret-token")
}

func TestTokenSecretNotFound(t *testing.T) {
	client, ns := setup(t)
	_, err := kubesecret.Token(t.Context(), client, ns, "missing", "")
	assert.ErrorIs(t, err, kubesecret.ErrNotFound)
	assert.ErrorContains(t, err, "reading secret "+ns+"/missing")
}

func TestTokenKeyMissingOrEmpty(t *testing.T) {
	client, ns := setup(t)
	for _, key := range []string{"absent", "other"} {
		_, err := kubesecret.Token(t.Context(), client, ns, "registry", key)
		assert.Check(t, is.ErrorIs(err, kubesecret.ErrMissingKey), "key %s", key)
		assert.Check(t, is.ErrorContains(err, "keys present: other, token"), "key %s", key)
		assert.Check(t, err != nil && !strings.Contains(err.Error(), "s3cret"), "the error must not contain the token: %v", err)
	}
}
