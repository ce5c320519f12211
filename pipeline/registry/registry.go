// Package registry pushes images from OCI layouts and tarballs to an OCI
// registry such as Gitea's, resolves tags to digests and lists tags. It
// uses go-containerregistry and needs no container engine.
package registry

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/incluster/incluster/pipeline/tag"
)

// Credentials are a registry username and a token (or password). An
// empty Token means anonymous access.
type Credentials struct {
	Username string
	Token    string
}

// Options configure a Client. The zero value is anonymous access over
// HTTPS, except for loopback hosts, which are reached over plain HTTP.
type Options struct {
	Credentials Credentials
	// Insecure lists registry hosts, as host or host:port, that speak
	// plain HTTP, such as gitea-http.gitea.svc.cluster.local:3000.
	// go-containerregistry (v0.22) tries HTTPS first and falls back to
	// plain HTTP for them, and by itself for private (RFC 1918) addresses
	// and *.local hosts. The Client reaches loopback hosts (localhost,
	// 127.0.0.0/8, ::1) over plain HTTP only.
	Insecure []string
	// Jobs is the number of blobs uploaded at once. Zero means 4.
	Jobs int
	// Transport is the HTTP transport. Nil means a clone of
	// http.DefaultTransport with ResponseHeaderTimeout set.
	Transport http.RoundTripper
	// ResponseHeaderTimeout bounds the wait for the headers of each
	// response after its request was sent, so that a registry that
	// accepts connections but never responds fails the request. Zero
	// means DefaultResponseHeaderTimeout. It applies only when Transport
	// is nil. The context bounds the whole operation.
	ResponseHeaderTimeout time.Duration
	// Logger receives a message per blob uploaded or found. Nil discards
	// them.
	Logger *slog.Logger
	// UserAgent is the User-Agent header. Empty means "incluster".
	UserAgent string
}

// DefaultResponseHeaderTimeout is the ResponseHeaderTimeout of a Client
// whose Options set none. It leaves a registry time to store a large
// blob before it responds to the upload.
const DefaultResponseHeaderTimeout = time.Minute

// Client talks to OCI registries with one set of credentials.
type Client struct {
	credentials Credentials
	insecure    []string
	jobs        int
	transport   http.RoundTripper
	logger      *slog.Logger
	userAgent   string
}

// New returns a Client for opts.
func New(opts Options) *Client {
	c := &Client{
		credentials: opts.Credentials,
		insecure:    slices.Clone(opts.Insecure),
		jobs:        opts.Jobs,
		transport:   opts.Transport,
		logger:      opts.Logger,
		userAgent:   opts.UserAgent,
	}
	if c.jobs <= 0 {
		c.jobs = 4
	}
	if c.transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = cmp.Or(opts.ResponseHeaderTimeout, DefaultResponseHeaderTimeout)
		c.transport = t
	}
	c.transport = &plainHTTPTransport{base: c.transport}
	if c.logger == nil {
		c.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.userAgent == "" {
		c.userAgent = "incluster"
	}
	return c
}

func (c *Client) authenticator() authn.Authenticator {
	if c.credentials.Token == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: c.credentials.Username, Password: c.credentials.Token}
}

func (c *Client) remoteOptions(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(c.authenticator()),
		remote.WithTransport(c.transport),
		remote.WithJobs(c.jobs),
		remote.WithUserAgent(c.userAgent),
	}
}

// isInsecure reports whether registry (host or host:port) is in the
// Insecure list, where an entry without a port matches every port.
func (c *Client) isInsecure(registry string) bool {
	host := registry
	if i := strings.LastIndex(registry, ":"); i >= 0 && !strings.HasSuffix(registry, "]") {
		host = registry[:i]
	}
	for _, h := range c.insecure {
		if strings.EqualFold(h, registry) || strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// isLoopback reports whether host (host or host:port) is localhost or a
// loopback address.
func isLoopback(host string) bool {
	hostname := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hostname = h
	}
	hostname = strings.Trim(hostname, "[]")
	if strings.EqualFold(hostname, "localhost") {
		return true
	}
	ip := net.ParseIP(hostname)
	return ip != nil && ip.IsLoopback()
}

// plainHTTPTransport sends the requests for loopback hosts over http,
// also those that go-containerregistry addresses to https.
// go-containerregistry (v0.22) always tries HTTPS first, so a registry on
// 127.0.0.1 that accepts connections but never responds would otherwise
// cost a TLS handshake timeout before the plain-HTTP attempt, and its
// failure would report both.
// NOTE: hosts in Options.Insecure keep the HTTPS attempt, because callers
// also list hosts there that may speak HTTPS.
type plainHTTPTransport struct {
	base http.RoundTripper
}

func (t *plainHTTPTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "https" && isLoopback(req.URL.Host) {
		req = req.Clone(req.Context())
		req.URL.Scheme = "http"
	}
	return t.base.RoundTrip(req)
}

// nameOptions returns the parse options for a reference whose registry
// part is registry.
func (c *Client) nameOptions(ref string) []name.Option {
	opts := []name.Option{name.StrictValidation}
	registry, _, _ := strings.Cut(ref, "/")
	if c.isInsecure(registry) {
		opts = append(opts, name.Insecure)
	}
	return opts
}

// ParseTag parses REGISTRY/REPOSITORY:TAG. The registry and the tag are
// required: a missing tag is an error, not "latest".
func (c *Client) ParseTag(ref string) (name.Tag, error) {
	if !strings.Contains(ref, "/") {
		return name.Tag{}, fmt.Errorf("parse reference %q: expected REGISTRY/OWNER/NAME:TAG", ref)
	}
	t, err := name.NewTag(ref, c.nameOptions(ref)...)
	if err != nil {
		return name.Tag{}, fmt.Errorf("parse reference %q: expected REGISTRY/OWNER/NAME:TAG: %w", ref, err)
	}
	// go-containerregistry (v0.22) accepts a tag that starts with '.' or
	// '-', which the distribution specification and registries reject.
	if err := tag.Validate(t.TagStr()); err != nil {
		return name.Tag{}, fmt.Errorf("parse reference %q: %w", ref, err)
	}
	return t, nil
}

// ParseRepository parses REGISTRY/REPOSITORY, such as
// 127.0.0.1:3000/owner/app.
func (c *Client) ParseRepository(repo string) (name.Repository, error) {
	if !strings.Contains(repo, "/") {
		return name.Repository{}, fmt.Errorf("parse repository %q: expected REGISTRY/OWNER/NAME", repo)
	}
	r, err := name.NewRepository(repo, c.nameOptions(repo)...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("parse repository %q: expected REGISTRY/OWNER/NAME: %w", repo, err)
	}
	return r, nil
}

// Resolve returns the digest (sha256:...) that the tag ref points at. A
// missing tag or repository returns an error wrapping ErrNotFound.
func (c *Client) Resolve(ctx context.Context, ref string) (string, error) {
	t, err := c.ParseTag(ref)
	if err != nil {
		return "", err
	}
	desc, err := remote.Head(t, c.remoteOptions(ctx)...)
	if err != nil {
		return "", c.classify("resolve "+t.String(), t.Context(), readAccess, err)
	}
	return desc.Digest.String(), nil
}

// Tags lists the tags of repository (REGISTRY/OWNER/NAME). A repository
// that does not exist yet has no tags: the result is empty and the error
// nil.
func (c *Client) Tags(ctx context.Context, repository string) ([]string, error) {
	r, err := c.ParseRepository(repository)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(r, c.remoteOptions(ctx)...)
	if err != nil {
		if isNotFoundResponse(err) {
			return nil, nil
		}
		return nil, c.classify("list tags of "+r.String(), r, readAccess, err)
	}
	return tags, nil
}
