// Command mirror assembles the stack's base images from files on this
// machine and pushes them to an OCI registry (Gitea's), the way an
// air-gapped cluster mirrors its base images:
//
//   - OWNER/golang:VERSION, a Go builder: the host's Go toolchain at
//     /usr/local/go, a static busybox as the shell, CA certificates, /tmp;
//   - OWNER/distroless-static:nonroot, a stand-in for
//     gcr.io/distroless/static-debian12:nonroot: CA certificates, tzdata,
//     /etc/passwd with nonroot (65532), no shell, user 65532.
//
// Both are linux/amd64 and reproducible (fixed owners and mtimes), so a
// second run pushes nothing: a tag whose digest already matches is left
// alone. After pushing, mirror pulls each image's manifest without
// credentials, because the engine pulls base images anonymously.
//
// It prints one JSON object per image on stdout and messages on stderr.
// With -check it pushes nothing and exits 1 unless both tags resolve
// anonymously.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// config holds the command line.
type config struct {
	registry  string
	owner     string
	user      string
	tokenFile string
	insecure  bool
	check     bool
	src       sources
}

// result is the line printed for each image.
type result struct {
	Name      string `json:"name"`
	Reference string `json:"reference"`
	Digest    string `json:"digest"`
	Pushed    bool   `json:"pushed"`
}

func main() {
	var cfg config
	flag.StringVar(&cfg.registry, "registry", "", "registry host:port, such as 127.0.0.1:3000 (required)")
	flag.StringVar(&cfg.owner, "owner", "incluster", "registry namespace: the Gitea user or organization that owns the images")
	flag.StringVar(&cfg.user, "user", "incluster", "user name for pushing")
	flag.StringVar(&cfg.tokenFile, "token-file", "", "file with the password or access token for pushing (required unless -check)")
	flag.BoolVar(&cfg.insecure, "insecure", false, "use plain HTTP (always used for loopback and private addresses)")
	flag.BoolVar(&cfg.check, "check", false, "push nothing; exit 1 unless both tags resolve without credentials")
	flag.StringVar(&cfg.src.GoRoot, "goroot", "/usr/local/go", "Go toolchain copied into the builder image")
	flag.StringVar(&cfg.src.Busybox, "busybox", "/bin/busybox", "statically linked busybox (Debian package busybox-static)")
	flag.StringVar(&cfg.src.CACerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA bundle (Debian package ca-certificates)")
	flag.StringVar(&cfg.src.ZoneInfo, "zoneinfo", "/usr/share/zoneinfo", "time zone database (Debian package tzdata)")
	flag.StringVar(&cfg.src.CacheDir, "cache", "", "folder for compressed layers kept between runs (required unless -check)")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger); err != nil {
		fmt.Fprintf(os.Stderr, "mirror: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, logger *slog.Logger) error {
	if cfg.registry == "" {
		return errors.New("missing -registry")
	}
	version, err := goVersion(cfg.src.GoRoot)
	if err != nil {
		return err
	}
	var opts []name.Option
	if cfg.insecure {
		opts = append(opts, name.Insecure)
	}
	goRef, err := name.NewTag(fmt.Sprintf("%s/%s/golang:%s", cfg.registry, cfg.owner, version), opts...)
	if err != nil {
		return fmt.Errorf("parsing the builder image reference: %w", err)
	}
	baseRef, err := name.NewTag(fmt.Sprintf("%s/%s/distroless-static:nonroot", cfg.registry, cfg.owner), opts...)
	if err != nil {
		return fmt.Errorf("parsing the base image reference: %w", err)
	}

	if cfg.check {
		for _, ref := range []name.Tag{goRef, baseRef} {
			if _, err := remote.Head(ref, remote.WithContext(ctx), remote.WithAuth(authn.Anonymous)); err != nil {
				return fmt.Errorf("resolving %s without credentials: %w", ref, err)
			}
		}
		return nil
	}

	if cfg.tokenFile == "" || cfg.src.CacheDir == "" {
		return errors.New("missing -token-file or -cache")
	}
	token, err := os.ReadFile(cfg.tokenFile)
	if err != nil {
		return fmt.Errorf("reading the token: %w", err)
	}
	auth := &authn.Basic{Username: cfg.user, Password: strings.TrimSpace(string(token))}

	images := []struct {
		name  string
		ref   name.Tag
		build func(sources) (v1.Image, error)
	}{
		{"golang", goRef, goImage},
		{"distroless-static", baseRef, baseImage},
	}
	enc := json.NewEncoder(os.Stdout)
	for _, im := range images {
		logger.Info("assembling image", "reference", im.ref.String())
		img, err := im.build(cfg.src)
		if err != nil {
			return fmt.Errorf("assembling %s: %w", im.ref, err)
		}
		res, err := push(ctx, img, im.ref, auth, logger)
		if err != nil {
			return err
		}
		res.Name = im.name
		if err := enc.Encode(res); err != nil {
			return err
		}
	}
	return nil
}

// push writes img to ref unless ref already has img's digest, then checks
// that ref resolves without credentials.
func push(ctx context.Context, img v1.Image, ref name.Tag, auth authn.Authenticator, logger *slog.Logger) (result, error) {
	digest, err := img.Digest()
	if err != nil {
		return result{}, fmt.Errorf("computing the digest of %s: %w", ref, err)
	}
	res := result{Reference: ref.String(), Digest: digest.String()}

	desc, err := remote.Head(ref, remote.WithContext(ctx), remote.WithAuth(auth))
	if err == nil && desc.Digest == digest {
		logger.Info("image is up to date", "reference", ref.String(), "digest", digest.String())
	} else {
		logger.Info("pushing image", "reference", ref.String(), "digest", digest.String())
		if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuth(auth)); err != nil {
			return result{}, fmt.Errorf("pushing %s: %w", ref, err)
		}
		res.Pushed = true
	}

	desc, err = remote.Head(ref, remote.WithContext(ctx), remote.WithAuth(authn.Anonymous))
	if err != nil {
		return result{}, fmt.Errorf("resolving %s without credentials: %w; the owner and its packages must be public", ref, err)
	}
	if desc.Digest != digest {
		return result{}, fmt.Errorf("resolving %s without credentials: digest %s, expected %s", ref, desc.Digest, digest)
	}
	return res, nil
}
