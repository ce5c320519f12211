package main

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"code.gitea.io/sdk/gitea"
)

// giteaClient calls the stack's Gitea API as its admin user.
type giteaClient struct {
	api *gitea.Client
}

func newGiteaClient(env stackEnv) (*giteaClient, error) {
	api, err := gitea.NewClient(env.GiteaURL,
		gitea.SetToken(env.token),
		gitea.SetHTTPClient(&http.Client{Timeout: 30 * time.Second}))
	if err != nil {
		return nil, fmt.Errorf("create a Gitea client for %s: %w", env.GiteaURL, err)
	}
	return &giteaClient{api: api}, nil
}

// manifestRepo is a Gitea repository with a Deployment whose image
// build-and-push bumps, and the image repository's name.
type manifestRepo struct {
	owner string
	name  string
	path  string
	// app is the image's name in the registry, OWNER/APP.
	app string
}

const manifestBranch = "main"

// createManifestRepo creates the repository owner/name with a Deployment
// at path that runs image:initial.
func (c *giteaClient) createManifestRepo(owner, name, path, image string) error {
	_, _, err := c.api.CreateRepo(gitea.CreateRepoOption{
		Name: name, AutoInit: true, DefaultBranch: manifestBranch,
		Description: "Manifests that hack/bench bumps",
	})
	if err != nil {
		return fmt.Errorf("create the Gitea repository %s/%s: %w", owner, name, err)
	}
	_, _, err = c.api.CreateFile(owner, name, path, gitea.CreateFileOptions{
		FileOptions: gitea.FileOptions{Message: "Add the Deployment that hack/bench bumps", BranchName: manifestBranch},
		Content:     base64.StdEncoding.EncodeToString([]byte(deployment(image + ":initial"))),
	})
	if err != nil {
		return fmt.Errorf("add %s to %s/%s: %w", path, owner, name, err)
	}
	return nil
}

func deployment(image string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 1
  selector:
    matchLabels:
      app: app
  template:
    metadata:
      labels:
        app: app
    spec:
      containers:
        - name: app
          image: ` + image + `
`
}

// branchHead returns the commit SHA at the tip of the manifest branch.
func (c *giteaClient) branchHead(owner, repo string) (string, error) {
	branch, _, err := c.api.GetRepoBranch(owner, repo, manifestBranch)
	if err != nil {
		return "", fmt.Errorf("read branch %s of %s/%s: %w", manifestBranch, owner, repo, err)
	}
	if branch.Commit == nil {
		return "", fmt.Errorf("read branch %s of %s/%s: no commit", manifestBranch, owner, repo)
	}
	return branch.Commit.ID, nil
}

// commitImage reads the manifest and commits it with every image line
// set to image, in one contents API request.
func (c *giteaClient) commitImage(repo manifestRepo, image string) error {
	contents, _, err := c.api.GetContents(repo.owner, repo.name, manifestBranch, repo.path)
	if err != nil {
		return fmt.Errorf("read %s in %s/%s: %w", repo.path, repo.owner, repo.name, err)
	}
	if contents.Content == nil {
		return fmt.Errorf("read %s in %s/%s: not a file", repo.path, repo.owner, repo.name)
	}
	data, err := base64.StdEncoding.DecodeString(*contents.Content)
	if err != nil {
		return fmt.Errorf("decode %s in %s/%s: %w", repo.path, repo.owner, repo.name, err)
	}
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		if before, _, ok := strings.Cut(line, "image: "); ok {
			lines[i] = before + "image: " + image
		}
	}
	_, _, err = c.api.UpdateFile(repo.owner, repo.name, repo.path, gitea.UpdateFileOptions{
		FileOptions: gitea.FileOptions{Message: "Bump the image to " + image, BranchName: manifestBranch},
		SHA:         contents.SHA,
		Content:     base64.StdEncoding.EncodeToString([]byte(strings.Join(lines, "\n"))),
	})
	if err != nil {
		return fmt.Errorf("commit %s in %s/%s: %w", repo.path, repo.owner, repo.name, err)
	}
	return nil
}

func (c *giteaClient) deleteRepo(owner, name string) error {
	if _, err := c.api.DeleteRepo(owner, name); err != nil {
		return fmt.Errorf("delete the Gitea repository %s/%s: %w", owner, name, err)
	}
	return nil
}

// deleteImage deletes every version of the container package owner/name.
func (c *giteaClient) deleteImage(owner, name string) error {
	// Each version is one entry, and the search by name matches
	// substrings, so the loop checks the name. Deleting shifts the pages,
	// so it lists the first page again until nothing is left to delete.
	for {
		versions, _, err := c.api.ListPackages(owner, gitea.ListPackagesOptions{Type: "container", Q: name})
		if err != nil {
			return fmt.Errorf("list the images of %s: %w", owner, err)
		}
		deleted := 0
		for _, p := range versions {
			if p.Type != "container" || p.Name != name {
				continue
			}
			if _, err := c.api.DeletePackage(owner, "container", name, p.Version); err != nil {
				return fmt.Errorf("delete the image %s/%s:%s: %w", owner, name, p.Version, err)
			}
			deleted++
		}
		if deleted == 0 {
			return nil
		}
	}
}
