package rollout

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// serviceAccountNamespace is the file, mounted by Kubernetes, that contains
// the pod's namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// NewClient returns a Kubernetes client and the namespace to use by
// default. With a kubeconfig path it uses that file's current context and
// the context's namespace ("default" when it names none). With an empty
// path it uses the pod's service account and the pod's namespace.
func NewClient(kubeconfig string) (*kubernetes.Clientset, string, error) {
	var (
		config    *rest.Config
		namespace string
		err       error
	)
	if kubeconfig == "" {
		config, err = rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) {
			return nil, "", fmt.Errorf("loading the in-cluster Kubernetes config: %w; outside a cluster, give a kubeconfig file", err)
		}
		if err != nil {
			return nil, "", fmt.Errorf("loading the in-cluster Kubernetes config: %w", err)
		}
		data, err := os.ReadFile(serviceAccountNamespace)
		if err != nil {
			return nil, "", fmt.Errorf("reading the pod's namespace: %w", err)
		}
		namespace = strings.TrimSpace(string(data))
	} else {
		loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}, &clientcmd.ConfigOverrides{})
		config, err = loader.ClientConfig()
		if err != nil {
			return nil, "", fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
		}
		namespace, _, err = loader.Namespace()
		if err != nil {
			return nil, "", fmt.Errorf("reading the namespace from kubeconfig %s: %w", kubeconfig, err)
		}
	}
	config.UserAgent = "incluster"
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, "", fmt.Errorf("creating the Kubernetes client for %s: %w", config.Host, err)
	}
	return client, namespace, nil
}
