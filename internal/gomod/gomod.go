// Package gomod fetches Go modules through the go command, for the hack
// tools that read files shipped in a module (OpenAPI specs, CRDs).
package gomod

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Download fetches module@version through the Go module proxy, or takes
// it from the module cache, and returns its extracted folder, which is
// read-only.
func Download(ctx context.Context, moduleVersion string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", moduleVersion)
	// Outside any module, so the project's go.mod is neither read nor changed.
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GO111MODULE=on")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var info struct {
		Dir   string
		Error string
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("go mod download %s failed: %v: %s", moduleVersion, runErr, strings.TrimSpace(stderr.String()))
	}
	if info.Error != "" {
		return "", fmt.Errorf("go mod download %s failed: %s", moduleVersion, info.Error)
	}
	if runErr != nil || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s failed: %v: %s", moduleVersion, runErr, strings.TrimSpace(stderr.String()))
	}
	return info.Dir, nil
}
