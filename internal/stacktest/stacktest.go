// Package stacktest gives tests the addresses and credentials of the local
// stack that hack/stack starts. Tests that need the stack carry the build
// tag "stack" and run through hack/test, which starts the stack and exports
// its variables (hack/stack env). A missing variable fails the test: a test
// run that asked for the stack must never pass by skipping.
package stacktest

import (
	"os"
	"strings"
	"testing"
)

// Stack holds what hack/stack env exports.
type Stack struct {
	// GiteaURL is Gitea's base URL on the host, such as http://127.0.0.1:3000.
	GiteaURL string
	// GiteaUser is the admin user that owns the token.
	GiteaUser string
	// GiteaToken is the admin's access token, read from the token file.
	GiteaToken string
	// Registry is the OCI registry host on the host network (127.0.0.1:3000).
	Registry string
	// ClusterGitea is Gitea's host:port on the engine's container network.
	ClusterGitea string
	// ClusterGoProxy is the GOPROXY URL that containers in the engine use.
	ClusterGoProxy string
	// GoImage and BaseImage are the mirrored builder and distroless-style
	// base images, as references the engine can pull.
	GoImage   string
	BaseImage string
	// EngineHost is the Dagger engine address (_EXPERIMENTAL_DAGGER_RUNNER_HOST).
	EngineHost string
	// DaggerBin is the path of the dagger CLI of the pinned version.
	DaggerBin string
}

// Get returns the stack's variables, failing t when any is missing.
func Get(t testing.TB) Stack {
	t.Helper()
	s := Stack{
		GiteaURL:       need(t, "INCLUSTER_GITEA_URL"),
		GiteaUser:      need(t, "INCLUSTER_GITEA_USER"),
		Registry:       need(t, "INCLUSTER_REGISTRY"),
		ClusterGitea:   need(t, "INCLUSTER_CLUSTER_GITEA"),
		ClusterGoProxy: need(t, "INCLUSTER_CLUSTER_GOPROXY"),
		GoImage:        need(t, "INCLUSTER_GO_IMAGE"),
		BaseImage:      need(t, "INCLUSTER_BASE_IMAGE"),
		EngineHost:     need(t, "_EXPERIMENTAL_DAGGER_RUNNER_HOST"),
		DaggerBin:      need(t, "INCLUSTER_DAGGER"),
	}
	tokenFile := need(t, "INCLUSTER_GITEA_TOKEN_FILE")
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatalf("reading the Gitea token: %v; is the stack up (hack/stack status)?", err)
	}
	s.GiteaToken = strings.TrimSpace(string(token))
	return s
}

// Gitea returns only the Gitea part of the stack, for tests that need no
// engine.
func Gitea(t testing.TB) Stack {
	t.Helper()
	s := Stack{
		GiteaURL:  need(t, "INCLUSTER_GITEA_URL"),
		GiteaUser: need(t, "INCLUSTER_GITEA_USER"),
		Registry:  need(t, "INCLUSTER_REGISTRY"),
	}
	token, err := os.ReadFile(need(t, "INCLUSTER_GITEA_TOKEN_FILE"))
	if err != nil {
		t.Fatalf("reading the Gitea token: %v; is the stack up (hack/stack status)?", err)
	}
	s.GiteaToken = strings.TrimSpace(string(token))
	return s
}

func need(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the stack tests through hack/test, or run hack/stack up and eval \"$(hack/stack env)\" first", name)
	}
	return v
}
