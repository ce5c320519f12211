// Test, build and ship a Go service to Gitea's registry and bump its manifest
//
// The incluster module runs the pipeline steps that need containers: go test,
// go build, the multi-stage image onto a distroless base. Everything else
// (tags, registry pushes, manifest rewrites, commits) comes from the Go
// packages in pipeline/, so the module stays thin. build-and-push runs every
// step in order: test, build, image, publish, bump.
//
// Base images, the Go image and GOPROXY are parameters with public defaults,
// so that an air-gapped cluster can point them at its own mirror and module
// proxy.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"dagger/incluster/internal/dagger"
)

// Public defaults of the image and proxy parameters.
const (
	defaultGoImage   = "golang:1.26.8"
	defaultBaseImage = "gcr.io/distroless/static-debian12:nonroot"
	defaultGoproxy   = "https://proxy.golang.org"
)

// Incluster is the module's root object. It has no state: every function
// takes the source and settings it needs.
type Incluster struct{}

// logger returns the logger of the pipeline packages. A function's standard
// error appears in the Dagger progress output.
func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// readToken returns the plaintext of the token secret, trimmed by
// trimToken.
func readToken(ctx context.Context, token *dagger.Secret) (string, error) {
	plaintext, err := token.Plaintext(ctx)
	if err != nil {
		return "", fmt.Errorf("read --token: %w", err)
	}
	return trimToken(plaintext)
}

// trimToken removes the whitespace around a token, such as the line break
// at the end of a token file, which would otherwise make the registry and
// Gitea reject the token with 401 Unauthorized. An empty token is an
// error that names --token.
func trimToken(plaintext string) (string, error) {
	token := strings.TrimSpace(plaintext)
	if token == "" {
		return "", errors.New("--token is empty: pass a Gitea token, such as file:PATH or env:NAME")
	}
	return token, nil
}
