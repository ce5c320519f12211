package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"

	"code.gitea.io/sdk/gitea"
)

// giteaFixture creates and deletes the manifest repository of one run.
type giteaFixture struct {
	api   *gitea.Client
	owner string
}

func newGitea(ctx context.Context, s stack) (*giteaFixture, error) {
	api, err := gitea.NewClient(s.giteaURL, gitea.SetToken(s.token), gitea.SetContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("connect to Gitea at %s: %w", s.giteaURL, err)
	}
	return &giteaFixture{api: api, owner: s.user}, nil
}

// imageLine matches the image fields of a manifest.
var imageLine = regexp.MustCompile(`(?m)^(\s*image:\s*)\S+`)

// createFixture creates a private repository with a unique name whose main
// branch holds deployment at manifestPath, and returns its name. The run
// pushes its image under the same name, so the Deployment's images are
// replaced by REGISTRY/OWNER/NAME:v0.0.0, which the run then bumps.
func (g *giteaFixture) createFixture(deployment, registry string) (string, error) {
	content, err := os.ReadFile(deployment)
	if err != nil {
		return "", fmt.Errorf("read fixture manifest: %w", err)
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return "", fmt.Errorf("create repository name: %w", err)
	}
	name := "act-" + hex.EncodeToString(suffix)
	if !imageLine.Match(content) {
		return "", fmt.Errorf("read fixture manifest %s: no image field", deployment)
	}
	content = imageLine.ReplaceAll(content, []byte("${1}"+registry+"/"+g.owner+"/"+name+":v0.0.0"))
	_, _, err = g.api.CreateRepo(gitea.CreateRepoOption{Name: name, AutoInit: true, DefaultBranch: "main", Private: true})
	if err != nil {
		return "", fmt.Errorf("create repository %s/%s: %w", g.owner, name, err)
	}
	_, _, err = g.api.CreateFile(g.owner, name, manifestPath, gitea.CreateFileOptions{
		FileOptions: gitea.FileOptions{Message: "Add the hello Deployment", BranchName: "main"},
		Content:     base64.StdEncoding.EncodeToString(content),
	})
	if err != nil {
		g.deleteFixture(name, io.Discard)
		return "", fmt.Errorf("add %s to %s/%s: %w", manifestPath, g.owner, name, err)
	}
	return name, nil
}

// deleteFixture deletes the repository and every version of the container
// package of the same name, and reports failures on w.
func (g *giteaFixture) deleteFixture(name string, w io.Writer) {
	if _, err := g.api.DeleteRepo(g.owner, name); err != nil {
		fmt.Fprintf(w, "actrun: delete repository %s/%s: %v\n", g.owner, name, err)
	}
	versions, _, err := g.api.ListPackageVersions(g.owner, "container", name, gitea.ListPackagesOptions{})
	if err != nil {
		// Gitea returns 404 when the run pushed nothing.
		return
	}
	for _, v := range versions {
		if _, err := g.api.DeletePackage(g.owner, "container", name, v.Version); err != nil {
			fmt.Fprintf(w, "actrun: delete package %s/%s:%s: %v\n", g.owner, name, v.Version, err)
		}
	}
}
