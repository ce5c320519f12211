package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Sentinel errors that callers branch on. The errors that Client returns
// wrap one of them where it applies, with the reference, the user and
// the HTTP status in the message.
var (
	// ErrTagExists means the tag already points at a different digest and
	// overwriting was not requested. The error is a *TagExistsError.
	ErrTagExists = errors.New("tag exists with a different digest")
	// ErrUnauthorized means the registry rejected the credentials or
	// requires some (HTTP 401): a wrong username or token, or for Gitea
	// also a token without the package scope.
	ErrUnauthorized = errors.New("registry rejected the credentials")
	// ErrForbidden means the registry accepted the credentials but denied
	// the operation (HTTP 403), such as a push without write permission.
	ErrForbidden = errors.New("registry denied access")
	// ErrNotFound means the repository or the tag does not exist.
	ErrNotFound = errors.New("not found in the registry")
	// ErrUnreachable means no connection to the registry could be made:
	// an unknown host, a refused connection, a timeout or a TLS failure.
	ErrUnreachable = errors.New("registry unreachable")
)

// TagExistsError is returned by Push when the tag points at a digest
// other than the one being pushed.
type TagExistsError struct {
	// Reference is the tag, such as 127.0.0.1:3000/owner/app:v0.2.
	Reference string
	// Existing is the digest the tag points at in the registry.
	Existing string
	// Pushing is the digest of the image that was not pushed.
	Pushing string
}

func (e *TagExistsError) Error() string {
	return fmt.Sprintf("push %s: tag exists with digest %s, not %s: choose a new tag, or overwrite it (PushRequest.Overwrite)", e.Reference, e.Existing, e.Pushing)
}

// Unwrap returns ErrTagExists so that callers can use errors.Is.
func (e *TagExistsError) Unwrap() error { return ErrTagExists }

// isNotFoundResponse reports whether the registry responded 404.
func isNotFoundResponse(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// access is the permission an operation needs, so that an error names
// the token scope that is missing.
type access int

const (
	readAccess access = iota
	writeAccess
)

// classify wraps err from the operation op ("push 127.0.0.1:3000/o/a:v1")
// on repo with the matching sentinel and a hint on what to do.
func (c *Client) classify(op string, repo name.Repository, need access, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return c.newError(nil, err, "%s: canceled", op)
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout() {
		// The cause repeats the URL once per scheme tried, so the message
		// leaves it out.
		return c.newError(ErrUnreachable, err, "%s: %v: timed out waiting for a response", op, ErrUnreachable)
	}

	var terr *transport.Error
	if errors.As(err, &terr) {
		return c.classifyResponse(op, repo, need, terr)
	}

	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return c.newError(ErrUnreachable, err, "%s: %v: cannot resolve host %q: check the registry address: %v", op, ErrUnreachable, dnsErr.Name, err)
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return c.newError(ErrUnreachable, err, "%s: %v: the registry speaks plain HTTP: mark its host as insecure: %v", op, ErrUnreachable, err)
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return c.newError(ErrUnreachable, err, "%s: %v: the registry's TLS certificate is not trusted: %v", op, ErrUnreachable, err)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return c.newError(ErrUnreachable, err, "%s: %v: %v", op, ErrUnreachable, err)
	}
	return c.newError(nil, err, "%s: %v", op, err)
}

// classifyResponse wraps an error response of the registry.
func (c *Client) classifyResponse(op string, repo name.Repository, need access, terr *transport.Error) error {
	response := describeResponse(terr)
	scope, permission := "read:package", "read"
	if need == writeAccess {
		scope, permission = "write:package", "write"
	}
	switch terr.StatusCode {
	case http.StatusUnauthorized:
		if c.credentials.Token == "" {
			return c.newError(ErrUnauthorized, terr, "%s: %v: the registry requires a login (%s): give a username and a token with the %s scope (Gitea)",
				op, ErrUnauthorized, response, scope)
		}
		return c.newError(ErrUnauthorized, terr, "%s: %v for user %q (%s): check the username and the token, and that the token has the %s scope (Gitea) and the user may %s packages of the repository's owner",
			op, ErrUnauthorized, c.credentials.Username, response, scope, permission)
	case http.StatusForbidden:
		return c.newError(ErrForbidden, terr, "%s: %v to user %q (%s): the token needs the %s scope (Gitea) and the user needs %s access to the repository's owner",
			op, ErrForbidden, c.credentials.Username, response, scope, permission)
	case http.StatusNotFound:
		if need == writeAccess {
			// Gitea creates a repository on its first push but responds 404
			// when the owner does not exist.
			owner, _, _ := strings.Cut(repo.RepositoryStr(), "/")
			return c.newError(ErrNotFound, terr, "%s: %v: owner %q does not exist (%s): create the user or organization first, or push to another owner",
				op, ErrNotFound, owner, response)
		}
		return c.newError(ErrNotFound, terr, "%s: %v (%s)", op, ErrNotFound, response)
	}
	return c.newError(nil, terr, "%s: %s", op, response)
}

// describeResponse returns "HTTP 404 from POST URL", without the URL's
// query, followed by the messages the registry sent with the error.
func describeResponse(terr *transport.Error) string {
	text := fmt.Sprintf("HTTP %d", terr.StatusCode)
	if terr.Request != nil && terr.Request.URL != nil {
		u := *terr.Request.URL
		u.RawQuery, u.User = "", nil
		text += fmt.Sprintf(" from %s %s", terr.Request.Method, u.String())
	}
	for _, d := range terr.Errors {
		if d.Message != "" {
			text += fmt.Sprintf(": %s %s", d.Code, d.Message)
		}
	}
	return text
}

// registryError has a message of its own and wraps a sentinel error and
// the cause.
type registryError struct {
	message string
	errs    []error
}

func (e *registryError) Error() string   { return e.message }
func (e *registryError) Unwrap() []error { return e.errs }

// newError returns an error with the formatted message on one line that
// wraps sentinel (unless nil) and cause. A server may echo the token into
// a message, so newError replaces it there. The credentials are sent only
// in headers, never in URLs, so this is a second line of defense.
func (c *Client) newError(sentinel, cause error, format string, args ...any) error {
	errs := []error{cause}
	if sentinel != nil {
		errs = []error{sentinel, cause}
	}
	message := strings.TrimSpace(fmt.Sprintf(format, args...))
	message = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(message)
	if token := c.credentials.Token; token != "" {
		message = strings.ReplaceAll(message, token, "[REDACTED]")
	}
	return &registryError{message: message, errs: errs}
}
