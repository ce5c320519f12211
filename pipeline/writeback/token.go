package writeback

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
)

const redacted = "[REDACTED]"

// Token is an access token. Formatting a Token with fmt, slog or
// encoding/json prints a fixed mask, so that a Token that ends up in a log
// line or an error message does not show the secret.
type Token struct{ value string }

// NewToken wraps a token value, such as one read from a CI secret,
// with surrounding whitespace removed.
func NewToken(value string) Token { return Token{value: strings.TrimSpace(value)} }

// IsZero reports whether the token is empty.
func (t Token) IsZero() bool { return t.value == "" }

// String returns a mask in place of the token.
func (t Token) String() string { return redacted }

// GoString returns a mask in place of the token, for %#v.
func (t Token) GoString() string { return redacted }

// Format writes a mask in place of the token for every verb.
func (t Token) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue returns a mask in place of the token for log/slog.
func (t Token) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText returns a mask in place of the token for encoders.
func (t Token) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Credentials give a backend its access token, either as a value or as a
// file such as a mounted Kubernetes Secret.
type Credentials struct {
	// Token is used when TokenFile is empty.
	Token Token
	// TokenFile is read at the start of every Write, so that a rotated
	// Secret takes effect without a restart.
	TokenFile string
}

// load returns the token, reading TokenFile when it is set. Its errors
// name the file but never its content.
func (c Credentials) load() (Token, error) {
	if c.TokenFile == "" {
		if c.Token.IsZero() {
			return Token{}, fmt.Errorf("load token: %w: neither a token nor a token file is set", ErrPermission)
		}
		return c.Token, nil
	}
	data, err := os.ReadFile(c.TokenFile)
	if err != nil {
		// The *PathError names the file and the failed operation only.
		return Token{}, fmt.Errorf("load token: %w", err)
	}
	t := NewToken(string(data))
	if t.IsZero() {
		return Token{}, fmt.Errorf("load token: %w: token file %s is empty", ErrPermission, c.TokenFile)
	}
	return t, nil
}
