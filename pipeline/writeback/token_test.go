package writeback

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
)

func TestTokenFormattingMasksValue(t *testing.T) {
	tok := NewToken("  " + testToken + "\n")
	assert.Check(t, is.Equal(tok.value, testToken))

	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("token", "token", tok)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("token", "token", tok)
	js, err := json.Marshal(struct{ T Token }{tok})
	assert.NilError(t, err)
	cfg := GitConfig{Credentials: Credentials{Token: tok}}

	for _, out := range []string{
		fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v %s %q %x", tok, tok, tok, tok, tok, tok),
		fmt.Sprintf("%+v %#v", cfg, cfg), logs.String(), string(js),
	} {
		assert.Check(t, !strings.Contains(out, testToken), "the token shows in %q", out)
		assert.Check(t, is.Contains(out, redacted))
	}
}

func TestCredentialsLoad(t *testing.T) {
	dir := fs.NewDir(t, "token",
		fs.WithFile("token", testToken+"\n"),
		fs.WithFile("empty", " \n"))

	tok, err := Credentials{TokenFile: dir.Join("token")}.load()
	assert.NilError(t, err)
	assert.Check(t, is.Equal(tok.value, testToken))

	tok, err = Credentials{Token: NewToken("value")}.load()
	assert.NilError(t, err)
	assert.Check(t, is.Equal(tok.value, "value"))

	_, err = Credentials{TokenFile: dir.Join("empty")}.load()
	assert.Check(t, is.ErrorIs(err, ErrPermission))
	assert.Check(t, is.ErrorContains(err, "is empty"))

	_, err = Credentials{TokenFile: filepath.Join(dir.Path(), "missing")}.load()
	assert.Check(t, is.ErrorIs(err, os.ErrNotExist))

	_, err = Credentials{}.load()
	assert.Check(t, is.ErrorIs(err, ErrPermission))
}

func TestCredentialsFileIsReadAtEachWrite(t *testing.T) {
	s := newGitServer(t)
	s.createRepo(t, "team/deploy", map[string]string{"app/deployment.yaml": deploymentYAML})
	file := filepath.Join(t.TempDir(), "token")
	assert.NilError(t, os.WriteFile(file, []byte("stale-token"), 0o600))
	w, err := NewGit(GitConfig{URL: s.URL, Credentials: Credentials{TokenFile: file}})
	assert.NilError(t, err)

	_, err = w.Write(t.Context(), appRequest("v2"))
	assert.Check(t, is.ErrorIs(err, ErrPermission))

	// A rotated Secret takes effect at the next Write.
	assert.NilError(t, os.WriteFile(file, []byte(s.Token+"\n"), 0o600))
	res, err := w.Write(t.Context(), appRequest("v2"))
	assert.NilError(t, err)
	assert.Check(t, res.Changed)
}
