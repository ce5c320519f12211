package writeback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
)

// checkBaseURL checks that raw is an absolute http or https URL with a
// host, such as http://gitea.gitea.svc:3000. Without the check, a URL
// such as gitea.example.com:3000 fails every request with "unsupported
// protocol scheme", which is no reason to retry.
func checkBaseURL(op, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %w: invalid URL %q: %w", op, ErrInvalidRequest, raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s: %w: invalid URL %q: expected http:// or https:// and a host, such as http://gitea.gitea.svc:3000", op, ErrInvalidRequest, raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%s: %w: invalid URL %q: no host", op, ErrInvalidRequest, raw)
	}
	if u.User != nil {
		// The message leaves out the URL, because it may carry a password.
		return fmt.Errorf("%s: %w: the URL has user information: pass the token in Credentials instead", op, ErrInvalidRequest)
	}
	return nil
}

// networkFailure reports whether err is a failure to reach the server or
// a connection that broke or timed out, which a new attempt may not meet.
// Other request errors, such as an unsupported protocol scheme or an
// invalid certificate, fail the same way every time.
func networkFailure(err error) bool {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &opErr) || errors.As(err, &dnsErr) {
		return true
	}
	// *url.Error is a net.Error too, so only its Timeout result counts.
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
