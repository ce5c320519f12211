package writeback

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestNewWritersRejectInvalidURL(t *testing.T) {
	for _, raw := range []string{
		"gitea.example.com:3000",
		"ftp://gitea.example.com",
		"http://",
		"http://user:s3cr3t@gitea.example.com",
		"http://gitea example.com",
	} {
		_, err := NewGitea(GiteaConfig{URL: raw})
		assert.Check(t, is.ErrorIs(err, ErrInvalidRequest), "gitea URL %q", raw)
		_, err = NewGit(GitConfig{URL: raw})
		assert.Check(t, is.ErrorIs(err, ErrInvalidRequest), "git URL %q", raw)
		if err != nil {
			assert.Check(t, !strings.Contains(err.Error(), "s3cr3t"), "error shows the password: %v", err)
		}
	}
}

func TestNewWritersAcceptHTTPURL(t *testing.T) {
	for _, raw := range []string{"http://127.0.0.1:3000", "https://gitea.example.com/", "http://gitea.gitea.svc:3000/sub"} {
		_, err := NewGitea(GiteaConfig{URL: raw})
		assert.Check(t, err, "gitea URL %q", raw)
		_, err = NewGit(GitConfig{URL: raw})
		assert.Check(t, err, "git URL %q", raw)
	}
}

func TestClassifyHTTPRequestErrors(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "http://127.0.0.1:1", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	err := classifyHTTP("read file", nil, refused)
	assert.Check(t, is.ErrorIs(err, ErrUnavailable), "connection refused")
	assert.Check(t, retryable(err), "connection refused")

	scheme := &url.Error{Op: "Get", URL: "gitea:3000/api/v1", Err: errors.New(`unsupported protocol scheme "gitea"`)}
	err = classifyHTTP("read file", nil, scheme)
	assert.Check(t, !retryable(err), "unsupported scheme: %v", err)
	assert.Check(t, is.ErrorContains(err, "unsupported protocol scheme"))
}
