package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

var (
	digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	commitPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// checkOutputs compares the step outputs and the summary of run with what
// Gitea and its registry hold, and returns every mismatch.
func checkOutputs(ctx context.Context, s stack, g *giteaFixture, repo string, run runLog) []string {
	var problems []string
	for _, key := range []string{"image", "digest", "commit"} {
		if _, ok := run.Outputs[key]; !ok {
			problems = append(problems, fmt.Sprintf("step %s set no output %s", pipelineStep, key))
		}
	}
	image, digest, commit := run.Outputs["image"], run.Outputs["digest"], run.Outputs["commit"]

	if !digestPattern.MatchString(digest) {
		problems = append(problems, fmt.Sprintf("output digest is %q, not a sha256 digest", digest))
	} else {
		repository := s.clusterGitea + "/" + s.user + "/" + repo
		if !strings.HasPrefix(image, repository) || !strings.HasSuffix(image, "@"+digest) {
			problems = append(problems, fmt.Sprintf("output image is %q, not %s[:TAG]@%s", image, repository, digest))
		}
		problems = append(problems, checkRegistry(ctx, s, repo, digest)...)
		if !strings.Contains(run.Summary, digest) {
			problems = append(problems, fmt.Sprintf("the job summary does not name the digest %s", digest))
		}
	}

	if !commitPattern.MatchString(commit) {
		problems = append(problems, fmt.Sprintf("output commit is %q, not a 40-digit commit hash", commit))
	} else {
		problems = append(problems, checkCommit(g, repo, commit, digest)...)
		if !strings.Contains(run.Summary, commit[:7]) {
			problems = append(problems, fmt.Sprintf("the job summary does not name the commit %s", commit[:7]))
		}
	}

	if strings.TrimSpace(run.Summary) == "" {
		problems = append(problems, "the run wrote no job summary")
	}
	return problems
}

// checkRegistry checks that the registry serves the manifest digest under
// the repository OWNER/APP, through its host address.
func checkRegistry(ctx context.Context, s stack, repo, digest string) []string {
	ref, err := name.NewDigest(s.registry+"/"+s.user+"/"+repo+"@"+digest, name.Insecure)
	if err != nil {
		return []string{fmt.Sprintf("parse image reference: %v", err)}
	}
	desc, err := remote.Head(ref, remote.WithContext(ctx),
		remote.WithAuth(&authn.Basic{Username: s.user, Password: s.token}))
	if err != nil {
		return []string{fmt.Sprintf("get manifest %s from the registry: %v", ref, err)}
	}
	if desc.Digest.String() != digest {
		return []string{fmt.Sprintf("the registry serves %s as %s", ref, desc.Digest)}
	}
	return nil
}

// checkCommit checks that commit is the head of main and that its
// manifest names digest.
func checkCommit(g *giteaFixture, repo, commit, digest string) []string {
	var problems []string
	head, _, err := g.api.GetSingleCommit(g.owner, repo, "main")
	if err != nil {
		return []string{fmt.Sprintf("get main of %s/%s: %v", g.owner, repo, err)}
	}
	if head.SHA != commit {
		problems = append(problems, fmt.Sprintf("output commit is %s, but main of %s/%s is at %s", commit, g.owner, repo, head.SHA))
	}
	content, _, err := g.api.GetFile(g.owner, repo, commit, manifestPath)
	if err != nil {
		return append(problems, fmt.Sprintf("get %s at %s: %v", manifestPath, commit, err))
	}
	if digest != "" && !strings.Contains(string(content), digest) {
		problems = append(problems, fmt.Sprintf("%s at commit %s does not name the digest %s", manifestPath, commit, digest))
	}
	return problems
}
