package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"unicode"
)

// downloadedModule is one object of `go mod download -json` output.
type downloadedModule struct {
	Path     string
	Version  string
	Error    string
	Info     string
	GoMod    string
	Zip      string
	Dir      string
	Sum      string
	GoModSum string
}

// addSDKModules downloads dagger.io/dagger at sdkVersion with the
// modules it needs into the host's module cache (modCache, through the
// host's GOPROXY setting) and adds them to b under /go/pkg/mod: their
// extracted folders and their cache/download files. It also adds the
// go.mod files of every module version in the module graph, which the go
// command reads for version selection. The host's module cache is also
// what the cluster's Go module proxy serves, so every module in the image
// can be downloaded from it again.
func addSDKModules(ctx context.Context, b *layerBuilder, workDir, modCache, sdkVersion string) (int, error) {
	modDir := filepath.Join(workDir, "sdkdeps")
	if err := os.MkdirAll(modDir, 0o755); err != nil {
		return 0, fmt.Errorf("create %s: %w", modDir, err)
	}
	goMod := "module sdkdeps\n\ngo 1.24\n"
	if err := os.WriteFile(filepath.Join(modDir, "go.mod"), []byte(goMod), 0o644); err != nil {
		return 0, fmt.Errorf("write %s: %w", modDir, err)
	}
	if _, err := goCommand(ctx, modDir, "get", "dagger.io/dagger@"+sdkVersion); err != nil {
		return 0, err
	}

	out, err := goCommand(ctx, modDir, "mod", "download", "-json", "all")
	if err != nil {
		return 0, err
	}
	count := 0
	decoder := json.NewDecoder(bytes.NewReader(out))
	for {
		var m downloadedModule
		err := decoder.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read go mod download output: %w", err)
		}
		if m.Error != "" {
			return 0, fmt.Errorf("download module %s@%s: %s", m.Path, m.Version, m.Error)
		}
		if err := addModule(b, modCache, m); err != nil {
			return 0, err
		}
		count++
	}

	graph, err := goCommand(ctx, modDir, "mod", "graph")
	if err != nil {
		return 0, err
	}
	if err := addGraphGoMods(b, modCache, graph); err != nil {
		return 0, err
	}
	return count, nil
}

// addModule adds one downloaded module: its folder and its download files.
func addModule(b *layerBuilder, modCache string, m downloadedModule) error {
	if m.Dir != "" {
		rel, err := filepath.Rel(modCache, m.Dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			return fmt.Errorf("module %s@%s is at %s, outside the module cache %s", m.Path, m.Version, m.Dir, modCache)
		}
		if err := b.HostTree(path.Join("/go/pkg/mod", filepath.ToSlash(rel)), m.Dir, nil); err != nil {
			return err
		}
	}
	files := []string{m.Info, m.GoMod, m.Zip}
	if m.Zip != "" {
		files = append(files, strings.TrimSuffix(m.Zip, ".zip")+".ziphash")
	}
	for _, file := range files {
		if file == "" {
			continue
		}
		if err := addCacheFile(b, modCache, file); err != nil {
			return err
		}
	}
	return nil
}

// addGraphGoMods adds the go.mod file of each module version that the
// output of `go mod graph` names, where the host's cache has it.
func addGraphGoMods(b *layerBuilder, modCache string, graph []byte) error {
	seen := map[string]bool{}
	scanner := bufio.NewScanner(bytes.NewReader(graph))
	for scanner.Scan() {
		for _, field := range strings.Fields(scanner.Text()) {
			modPath, version, ok := strings.Cut(field, "@")
			if !ok || seen[field] {
				continue
			}
			seen[field] = true
			file := filepath.Join(modCache, "cache", "download", escapeModule(modPath), "@v", escapeModule(version)+".mod")
			if _, err := os.Stat(file); err != nil {
				continue
			}
			if err := addCacheFile(b, modCache, file); err != nil {
				return err
			}
		}
	}
	return scanner.Err()
}

// escapeModule escapes a module path or version the way the module cache
// names its files: each upper-case letter becomes '!' and its lower case.
func escapeModule(s string) string {
	var escaped strings.Builder
	for _, r := range s {
		if unicode.IsUpper(r) {
			escaped.WriteByte('!')
			r = unicode.ToLower(r)
		}
		escaped.WriteRune(r)
	}
	return escaped.String()
}

func addCacheFile(b *layerBuilder, modCache, file string) error {
	rel, err := filepath.Rel(modCache, file)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("module file %s is outside the module cache %s", file, modCache)
	}
	return b.HostFile(path.Join("/go/pkg/mod", filepath.ToSlash(rel)), file)
}

// goCommand runs the go command in dir and returns its standard output.
func goCommand(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s in %s: %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
