// Package kubesecret reads a registry token from a Kubernetes Secret by
// name, as an alternative to a token file mounted into the pod.
package kubesecret

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// DefaultKey is the data key that Token reads when the key is empty.
const DefaultKey = "token"

var (
	// ErrNotFound means that the Secret does not exist.
	ErrNotFound = errors.New("secret not found")
	// ErrMissingKey means that the Secret has no data under the key, or
	// only whitespace.
	ErrMissingKey = errors.New("secret key missing or empty")
)

// Token returns the value stored under key (DefaultKey when empty) in the
// Secret namespace/name, with surrounding whitespace removed. Errors name
// the Secret and the key but never contain the value.
func Token(ctx context.Context, client kubernetes.Interface, namespace, name, key string) (string, error) {
	if key == "" {
		key = DefaultKey
	}
	secret, err := client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("reading secret %s/%s: %w", namespace, name, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("reading secret %s/%s: %w", namespace, name, err)
	}
	token := strings.TrimSpace(string(secret.Data[key]))
	if token == "" {
		keys := make([]string, 0, len(secret.Data))
		for k := range secret.Data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		present := "the secret has no keys"
		if len(keys) > 0 {
			present = "keys present: " + strings.Join(keys, ", ")
		}
		return "", fmt.Errorf("reading key %q of secret %s/%s: %w (%s)", key, namespace, name, ErrMissingKey, present)
	}
	return token, nil
}
