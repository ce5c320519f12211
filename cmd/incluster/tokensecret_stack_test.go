//go:build stack

package main

import (
	"strings"
	"testing"

	"code.gitea.io/sdk/gitea"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/incluster/incluster/internal/stacktest"
)

func TestPushTokenFromSecret(t *testing.T) {
	stack := stacktest.Gitea(t)
	kubeconfig := stacktest.Kubeconfig(t)
	client := stacktest.KubeClient(t)
	namespace := stacktest.CreateNamespace(t, client, "token-secret")
	user, token := newGiteaUser(t, gitea.AccessTokenScopeWritePackage)
	_, err := client.CoreV1().Secrets(namespace).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "registry"},
		Data:       map[string][]byte{"password": []byte(token + "\n")},
	}, metav1.CreateOptions{})
	assert.NilError(t, err)
	dir, digest := writeLayout(t)
	ref := stack.Registry + "/" + user + "/app:v0.1"
	env := []string{"INCLUSTER_USERNAME=" + user}

	pushed := runProgram(t, "", env, "push", "--kubeconfig", kubeconfig, "--token-secret", namespace+"/registry:password", dir, ref)
	missing := runProgram(t, "", env, "push", "--kubeconfig", kubeconfig, "--token-secret", namespace+"/registry", dir, ref)

	assert.Check(t, is.Equal(pushed.code, 0), "stderr: %s", pushed.stderr)
	assert.Check(t, is.Equal(pushed.stdout, ref+"@"+digest+"\n"))
	assert.Check(t, is.Equal(missing.code, 1), "stderr: %s", missing.stderr)
	assert.Check(t, is.Contains(missing.stderr, `key "token"`))
	assert.Check(t, is.Contains(missing.stderr, "keys present: password"))
	for name, r := range map[string]execution{"pushed": pushed, "missing": missing} {
		assert.Check(t, !strings.Contains(r.stdout+r.stderr, token), "%s printed the token", name)
	}
}
