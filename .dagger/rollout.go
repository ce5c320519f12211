package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/incluster/incluster/pipeline/rollout"
	"k8s.io/client-go/kubernetes"

	"dagger/incluster/internal/dagger"
)

// defaultRolloutTimeout is the default of wait-rollout's --timeout and
// build-and-push's --rollout-timeout, as a Go duration.
const defaultRolloutTimeout = "5m"

// rolloutTarget is the cluster and namespace that a rollout wait reads.
type rolloutTarget struct {
	// kubeconfig is the kubeconfig file's contents; nil means the pod's
	// in-cluster config.
	kubeconfig *dagger.Secret
	// namespace is empty for the kubeconfig context's namespace or the
	// pod's.
	namespace string
	timeout   string
	log       *slog.Logger
}

// Waits until the workloads that use the image's repository run it.
//
// The workloads are the Deployments, StatefulSets and DaemonSets that use
// the image's repository. It returns one line with each workload's
// state. It fails with the reason in one line when a
// Deployment exceeds its progress deadline, a pod of the image cannot pull
// it, crash-loops or is unschedulable, when no workload uses the
// repository, or when the timeout passes first.
func (m *Incluster) WaitRollout(
	ctx context.Context,
	// Pushed reference with its digest, REGISTRY/OWNER/APP:TAG@sha256:..., as build-and-push returns it.
	image string,
	// Kubeconfig file contents, such as file:$HOME/.kube/config. Its server address must be reachable from the engine's containers. Without it, the function uses the in-cluster config, which needs KUBERNETES_SERVICE_HOST and the service account mount in the function's container.
	// +optional
	kubeconfig *dagger.Secret,
	// Namespace of the workloads. Empty means the kubeconfig context's namespace, or the pod's.
	// +optional
	namespace string,
	// How long to wait, as a Go duration such as 90s or 10m.
	// +default="5m"
	timeout string,
) (string, error) {
	target := rolloutTarget{kubeconfig: kubeconfig, namespace: namespace, timeout: timeout, log: logger()}
	line, err := target.wait(ctx, image)
	if err != nil {
		return "", fmt.Errorf("wait-rollout: %w", err)
	}
	return line, nil
}

// wait waits for the rollout of image and returns the workloads' states
// in one line.
func (r rolloutTarget) wait(ctx context.Context, image string) (string, error) {
	timeout, err := parseTimeout(r.timeout)
	if err != nil {
		return "", err
	}
	client, contextNamespace, err := r.client(ctx)
	if err != nil {
		return "", err
	}
	namespace := r.namespace
	if namespace == "" {
		namespace = contextNamespace
	}

	waiter := &rollout.Waiter{Client: client, Logger: r.log}
	result, err := waiter.Wait(ctx, rollout.Request{Namespace: namespace, Image: image, Timeout: timeout})
	if err != nil {
		return "", err
	}
	return resultLine(result), nil
}

// parseTimeout parses a positive Go duration.
func parseTimeout(value string) (time.Duration, error) {
	timeout, err := time.ParseDuration(value)
	if err != nil {
		return 0, fmt.Errorf("invalid timeout %q: expected a Go duration such as 90s or 10m", value)
	}
	if timeout <= 0 {
		return 0, fmt.Errorf("invalid timeout %q: it must be positive", value)
	}
	return timeout, nil
}

// client returns a Kubernetes client for the kubeconfig, or for the
// in-cluster config when there is none. rollout.NewClient reads a file,
// so the secret is written to a private temporary one, removed at once.
func (r rolloutTarget) client(ctx context.Context) (*kubernetes.Clientset, string, error) {
	if r.kubeconfig == nil {
		return rollout.NewClient("")
	}
	plaintext, err := r.kubeconfig.Plaintext(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("read the kubeconfig secret: %w", err)
	}
	if strings.TrimSpace(plaintext) == "" {
		return nil, "", errors.New("read the kubeconfig secret: it is empty")
	}
	dir, err := os.MkdirTemp("", "incluster-kubeconfig-")
	if err != nil {
		return nil, "", fmt.Errorf("store the kubeconfig: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, []byte(plaintext), 0o600); err != nil {
		return nil, "", fmt.Errorf("store the kubeconfig: %w", err)
	}
	return rollout.NewClient(path)
}

// resultLine joins each workload's "kind namespace/name: state".
func resultLine(result rollout.Result) string {
	states := make([]string, 0, len(result.Workloads))
	for _, w := range result.Workloads {
		states = append(states, w.Workload()+": "+w.State)
	}
	return fmt.Sprintf("rolled out %s in %s: %s", result.Image,
		result.Elapsed.Round(time.Millisecond), strings.Join(states, "; "))
}
