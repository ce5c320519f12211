package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/incluster/incluster/pipeline/rollout"
)

const waitRolloutUsage = `
Usage: incluster wait-rollout [flags] IMAGE

Wait until the workloads that use IMAGE's repository run IMAGE, and print
one line per workload on standard output: KIND NAMESPACE/NAME STATE.

IMAGE is the pushed reference with its digest, REPOSITORY[:TAG]@sha256:...,
as 'incluster push' prints it. A Deployment, StatefulSet or DaemonSet in
the namespace matches when a container of its pod template uses the same
repository. The command returns when each one has observed its latest
generation, runs the digest on all updated replicas and is available.

It fails at once, with the reason in one line, when a Deployment exceeds
its progress deadline, a pod of the new image is in ImagePullBackOff,
ErrImagePull or CrashLoopBackOff, or a pod is unschedulable. When
--timeout passes first it reports the state of each unfinished workload,
including a pod template that still uses an old image (ArgoCD has not
synced). No matching workload is an error.

Without --kubeconfig and $KUBECONFIG, the command uses the pod's service
account (in-cluster config). The namespace defaults to the one of the
kubeconfig context, or the pod's.
`

func runWaitRollout(ctx context.Context, s *streams, args []string) error {
	fs := newFlagSet("wait-rollout", waitRolloutUsage)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig `file` (default $KUBECONFIG, then the in-cluster config)")
	namespace := fs.String("namespace", "", "namespace of the workloads (default: the kubeconfig context's or the pod's)")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait, such as 90s or 10m")
	jsonOutput := fs.Bool("json", false, "print the result as JSON, with the state of each workload")
	quiet := fs.Bool("quiet", false, "print no progress messages")
	positional, err := parse(fs, s, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return usagef("wait-rollout: expected IMAGE, got %d arguments\nRun 'incluster wait-rollout --help' for usage.", len(positional))
	}
	if *timeout <= 0 {
		return usagef("wait-rollout: --timeout must be positive, got %v", *timeout)
	}
	path := *kubeconfig
	if path == "" {
		path = s.getenv("KUBECONFIG")
	}
	client, contextNamespace, err := rollout.NewClient(path)
	if err != nil {
		return err
	}
	if *namespace == "" {
		*namespace = contextNamespace
	}

	waiter := &rollout.Waiter{Client: client, Logger: messageLogger(s, *quiet)}
	result, err := waiter.Wait(ctx, rollout.Request{Namespace: *namespace, Image: positional[0], Timeout: *timeout})
	if *jsonOutput {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		if encErr := enc.Encode(result); encErr != nil && err == nil {
			err = encErr
		}
		return err
	}
	if err != nil {
		return err
	}
	for _, w := range result.Workloads {
		if _, err := fmt.Fprintf(s.out, "%s %s\n", w.Workload(), w.State); err != nil {
			return err
		}
	}
	return nil
}
