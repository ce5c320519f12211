package rollout

import (
	"k8s.io/client-go/informers"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// listers reads the watched objects of one namespace from the informer
// caches.
type listers struct {
	namespace    string
	deployments  appslisters.DeploymentNamespaceLister
	statefulSets appslisters.StatefulSetNamespaceLister
	daemonSets   appslisters.DaemonSetNamespaceLister
	pods         corelisters.PodNamespaceLister
	informers    []cache.SharedIndexInformer
}

// newListers registers the informers with the factory; they start with
// factory.Start.
func newListers(factory informers.SharedInformerFactory, namespace string) *listers {
	apps := factory.Apps().V1()
	deployments := apps.Deployments()
	statefulSets := apps.StatefulSets()
	daemonSets := apps.DaemonSets()
	pods := factory.Core().V1().Pods()
	return &listers{
		namespace:    namespace,
		deployments:  deployments.Lister().Deployments(namespace),
		statefulSets: statefulSets.Lister().StatefulSets(namespace),
		daemonSets:   daemonSets.Lister().DaemonSets(namespace),
		pods:         pods.Lister().Pods(namespace),
		informers: []cache.SharedIndexInformer{
			deployments.Informer(), statefulSets.Informer(), daemonSets.Informer(), pods.Informer(),
		},
	}
}
