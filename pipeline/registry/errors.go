package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Sentinel errors that callers branch on. The errors that Client returns
// wrap one of them where it applies, with the reference, the user and
// the HTTP status in the message.
var (
	// ErrTagExists means the tag already points at a different digest and
	// overwriting was not requested. The error is a *TagExistsError.
	ErrTagExists = errors.New("tag exists with a different digest")
	// ErrUnauthorized means the registry rejected the credentials (HTTP
	// 401): a wrong username or token, or for Gitea also a token without
	// the package scope.
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
	return fmt.Sprintf("push %s: tag exists with digest %s, not %s: choose a new tag or allow overwriting", e.Reference, e.Existing, e.Pushing)
}

// Unwrap returns ErrTagExists so that callers can use errors.Is.
func (e *TagExistsError) Unwrap() error { return ErrTagExists }

// isNotFoundResponse reports whether the registry responded 404.
func isNotFoundResponse(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// classify wraps err from an operation op ("push 127.0.0.1:3000/o/a:v1")
// with the matching sentinel and a hint on what to do.
func (c *Client) classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return c.redact(fmt.Errorf("%s: %w", op, err))
	}

	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusUnauthorized:
			return c.redact(fmt.Errorf("%s: %w for user %q (HTTP 401): check the username and the token, that the token has the package write scope (Gitea: write:package), and that the user may write packages of the repository's owner: %w",
				op, ErrUnauthorized, c.credentials.Username, err))
		case http.StatusForbidden:
			return c.redact(fmt.Errorf("%s: %w to user %q (HTTP 403): the token needs write access to packages (Gitea: the write:package scope) and the user needs write access to the owner: %w",
				op, ErrForbidden, c.credentials.Username, err))
		case http.StatusNotFound:
			return c.redact(fmt.Errorf("%s: %w: %w", op, ErrNotFound, err))
		}
		return c.redact(fmt.Errorf("%s: %w", op, err))
	}

	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return c.redact(fmt.Errorf("%s: %w: cannot resolve host %q: check the registry address: %w", op, ErrUnreachable, dnsErr.Name, err))
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return c.redact(fmt.Errorf("%s: %w: the registry speaks plain HTTP: mark its host as insecure: %w", op, ErrUnreachable, err))
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return c.redact(fmt.Errorf("%s: %w: the registry's TLS certificate is not trusted: %w", op, ErrUnreachable, err))
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return c.redact(fmt.Errorf("%s: %w: %w", op, ErrUnreachable, err))
	}
	return c.redact(fmt.Errorf("%s: %w", op, err))
}

// redactedError replaces the token in the message of the error it wraps.
type redactedError struct {
	message string
	err     error
}

func (e *redactedError) Error() string { return e.message }
func (e *redactedError) Unwrap() error { return e.err }

// redact hides the token should a server echo it into a message. The
// credentials are sent only in headers, never in URLs, so this is a
// second line of defense.
func (c *Client) redact(err error) error {
	token := c.credentials.Token
	if err == nil || token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return &redactedError{message: strings.ReplaceAll(err.Error(), token, "[REDACTED]"), err: err}
}
