package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/incluster/incluster/pipeline/registry"
	"github.com/incluster/incluster/pipeline/tag"

	"dagger/incluster/internal/dagger"
)

// Tag schemes, the values of --tag-scheme.
const (
	tagSchemeSHA    = "sha"
	tagSchemeSemver = "semver"
)

// destination is the repository REGISTRY/OWNER/APP that publish pushes to,
// with the credentials that may write to it.
type destination struct {
	registry string
	owner    string
	app      string
	username string
	// token is the plaintext of the token secret. It goes into request
	// headers only, never into messages.
	token string
	// plainHTTP marks the registry as speaking plain HTTP.
	plainHTTP bool
	log       *slog.Logger
}

func (d destination) repository() string {
	return d.registry + "/" + d.owner + "/" + d.app
}

func (d destination) client() *registry.Client {
	opts := registry.Options{
		Credentials: registry.Credentials{Username: d.username, Token: d.token},
		Logger:      d.log,
	}
	if d.plainHTTP || isLocalHost(d.registry) {
		opts.Insecure = []string{d.registry}
	}
	return registry.New(opts)
}

// isLocalHost reports whether the host of registry (HOST or HOST:PORT) ends
// in .local, as Kubernetes service names such as
// gitea-http.gitea.svc.cluster.local do. Such a registry is reached over
// plain HTTP when HTTPS fails, as go-containerregistry (v0.22) already does
// by itself for localhost, 127.0.0.1 and private (RFC 1918) addresses.
func isLocalHost(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	return strings.HasSuffix(strings.ToLower(host), ".local")
}

func (d destination) validate() error {
	for _, field := range []struct{ flag, value string }{
		{"--registry", d.registry},
		{"--owner", d.owner},
		{"--app", d.app},
		{"--username", d.username},
	} {
		if strings.TrimSpace(field.value) == "" {
			return fmt.Errorf("%s is empty", field.flag)
		}
	}
	if strings.Contains(d.registry, "/") {
		return fmt.Errorf("invalid registry %q: expected HOST or HOST:PORT without a scheme or path", d.registry)
	}
	if d.token == "" {
		return errors.New("the token is empty")
	}
	return nil
}

// deriveTag returns the tag to push: explicit when set, else one derived
// by scheme. The sha scheme takes the commit's short SHA. The semver scheme
// takes the version after the highest one in the registry. When the image
// of that highest version was built from this commit, it takes the highest
// version again, so that a second run makes no new tag and no commit.
func deriveTag(ctx context.Context, explicit, scheme string, c commit, dest destination) (string, error) {
	if explicit != "" {
		if err := checkTag(explicit); err != nil {
			return "", err
		}
		return explicit, nil
	}
	switch scheme {
	case tagSchemeSHA:
		if c.SHA == "" {
			return "", errors.New("the source has no .git folder, so no commit to take the short SHA of: pass --tag, or --tag-scheme=semver")
		}
		return tag.FromCommit(c.SHA, 0)
	case tagSchemeSemver:
		client := dest.client()
		tags, err := client.Tags(ctx, dest.repository())
		if err != nil {
			return "", err
		}
		next := tag.Next(tags)
		if next == tag.First || c.SHA == "" {
			return next, nil
		}
		current := highestVersion(tags, next)
		revision, err := dest.revision(ctx, client, dest.repository()+":"+current)
		if err != nil {
			return "", err
		}
		if revision == c.SHA {
			return current, nil
		}
		return next, nil
	default:
		return "", fmt.Errorf("invalid tag scheme %q: expected %s or %s", scheme, tagSchemeSHA, tagSchemeSemver)
	}
}

// checkTag checks an explicit --tag. Beyond the OCI rule, it rejects
// upper-case letters, because Gitea's registry (seen with 1.27) stores a tag such as
// V1-UPPER as v1-upper without an error, so the pushed tag would differ
// from the one requested.
func checkTag(t string) error {
	if err := tag.Validate(t); err != nil {
		return err
	}
	if lower := strings.ToLower(t); lower != t {
		return &tag.InvalidTagError{Tag: t, Reason: fmt.Sprintf("Gitea's registry stores tags in lower case, so it would store %q: pass the tag in lower case", lower)}
	}
	return nil
}

// highestVersion returns the tag that next follows, the highest version
// among tags.
func highestVersion(tags []string, next string) string {
	for _, t := range tags {
		if tag.Next([]string{t}) == next {
			return t
		}
	}
	return ""
}

// revision returns the source revision label of the image that ref points
// at, empty when it has none.
func (d destination) revision(ctx context.Context, client *registry.Client, ref string) (string, error) {
	t, err := client.ParseTag(ref)
	if err != nil {
		return "", err
	}
	img, err := remote.Image(t,
		remote.WithContext(ctx),
		remote.WithAuth(&authn.Basic{Username: d.username, Password: d.token}),
		remote.WithUserAgent("incluster"))
	if err != nil {
		return "", fmt.Errorf("read image %s as user %q: %w", ref, d.username, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return "", fmt.Errorf("read image config of %s: %w", ref, err)
	}
	return cfg.Config.Labels[labelRevision], nil
}

// push exports ctr as an OCI tarball into this function's container, sets
// every creation time in its config to created, and pushes it to ref with
// go-containerregistry.
func push(ctx context.Context, ctr *dagger.Container, created time.Time, dest destination, ref string, overwrite bool) (registry.Result, error) {
	tmp, err := os.MkdirTemp("", "incluster-image-")
	if err != nil {
		return registry.Result{}, fmt.Errorf("export image: %w", err)
	}
	defer os.RemoveAll(tmp)

	tarball := filepath.Join(tmp, "image.tar")
	_, err = ctr.Export(ctx, tarball, dagger.ContainerExportOpts{
		ForcedCompression: dagger.ImageLayerCompressionGzip,
		MediaTypes:        dagger.ImageMediaTypesOcimediaTypes,
	})
	if err != nil {
		return registry.Result{}, fmt.Errorf("export image: %w", err)
	}
	src, err := registry.Open(tarball)
	if err != nil {
		return registry.Result{}, err
	}
	defer src.Close()

	img, ok := src.Artifact.(v1.Image)
	if !ok {
		return registry.Result{}, fmt.Errorf("export image: got %s with an image index, expected one image", src.Format)
	}
	img, err = normalizeTimes(img, created)
	if err != nil {
		return registry.Result{}, err
	}
	res, err := dest.client().Push(ctx, registry.PushRequest{Artifact: img, Reference: ref, Overwrite: overwrite})
	var exists *registry.TagExistsError
	if errors.As(err, &exists) {
		return res, fmt.Errorf("push %s: the tag points at %s, not at the new image %s: pass another --tag, or --overwrite to move it: %w",
			exists.Reference, exists.Existing, exists.Pushing, registry.ErrTagExists)
	}
	return res, err
}

// normalizeTimes sets the image's creation time and the time of every
// history entry to t. The engine records when it built or pulled each
// layer, so without this an unchanged source built on another engine, or
// after the cache was pruned, would get another digest. The layers stay
// as they are.
func normalizeTimes(img v1.Image, t time.Time) (v1.Image, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read image config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: t}
	for i := range cfg.History {
		cfg.History[i].Created = v1.Time{Time: t}
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("set image creation times: %w", err)
	}
	return img, nil
}
