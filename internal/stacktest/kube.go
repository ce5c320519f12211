package stacktest

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Kubeconfig returns the path of the admin's kubeconfig for the stack's
// API server as the host reaches it (hack/stack component kube).
func Kubeconfig(t testing.TB) string {
	t.Helper()
	return need(t, "INCLUSTER_KUBECONFIG")
}

// ClusterKubeconfig returns the path of the admin's kubeconfig for the
// stack's API server as containers in the engine reach it, at
// kubernetes.default.svc.cluster.local.
func ClusterKubeconfig(t testing.TB) string {
	t.Helper()
	return need(t, "INCLUSTER_CLUSTER_KUBECONFIG")
}

// KubeClient returns a client for the stack's API server, with the
// kubeconfig of Kubeconfig.
func KubeClient(t testing.TB) kubernetes.Interface {
	t.Helper()
	path := Kubeconfig(t)
	config, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("loading kubeconfig %s: %v", path, err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		t.Fatalf("creating a Kubernetes client for %s: %v", config.Host, err)
	}
	return client
}

// CreateNamespace creates a namespace named prefix and a random suffix,
// and deletes it when the test ends. The namespace controller then
// removes what it contains.
func CreateNamespace(t testing.TB, client kubernetes.Interface, prefix string) string {
	t.Helper()
	ns, err := client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating a namespace %s...: %v", prefix, err)
	}
	t.Cleanup(func() {
		err := client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
		if err != nil {
			t.Errorf("deleting namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}
