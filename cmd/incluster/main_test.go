package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

const testVersion = "v9.8.7-test"

// program is the path of the incluster binary that TestMain builds.
var program string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "incluster-cli-")
	if err != nil {
		log.Fatal(err)
	}
	program = filepath.Join(dir, "incluster")
	build := exec.Command("go", "build", "-o", program, "-ldflags", "-X main.version="+testVersion, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		log.Fatalf("build incluster: %v", err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type execution struct {
	code   int
	stdout string
	stderr string
}

// runProgram runs the built program with args, the given standard input
// and only the environment variables in env.
func runProgram(t *testing.T, stdin string, env []string, args ...string) execution {
	t.Helper()
	cmd := exec.Command(program, args...)
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else {
		assert.NilError(t, err)
	}
	return execution{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// startRegistry starts go-containerregistry's in-memory registry. With a
// token set, it requires HTTP basic authentication with that token.
func startRegistry(t *testing.T, token string) string {
	t.Helper()
	handler := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" {
			if _, got, ok := r.BasicAuth(); !ok || got != token {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(server.Close)
	return strings.TrimPrefix(server.URL, "http://")
}

func writeLayout(t *testing.T) (dir string, digest string) {
	t.Helper()
	img, err := random.Image(1024, 2)
	assert.NilError(t, err)
	dir = t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	assert.NilError(t, err)
	assert.NilError(t, p.AppendImage(img))
	d, err := img.Digest()
	assert.NilError(t, err)
	return dir, d.String()
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		r := runProgram(t, "", nil, args...)
		assert.Check(t, is.Equal(r.code, 0), "args %q", args)
		assert.Check(t, is.Contains(r.stdout, "Usage: incluster COMMAND"), "args %q", args)
		assert.Check(t, is.Contains(r.stdout, "Exit codes:"), "args %q", args)
		assert.Check(t, is.Equal(r.stderr, ""), "args %q", args)
	}
}

func TestHelpOfEachCommand(t *testing.T) {
	for _, c := range commands() {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			r := runProgram(t, "", nil, args...)
			assert.Check(t, is.Equal(r.code, 0), "args %q", args)
			assert.Check(t, is.Contains(r.stdout, "Usage: incluster "+c.name), "args %q", args)
			assert.Check(t, is.Equal(r.stderr, ""), "args %q", args)
		}
	}
}

func TestNoArguments(t *testing.T) {
	r := runProgram(t, "", nil)

	assert.Check(t, is.Equal(r.code, 2))
	assert.Check(t, is.Equal(r.stdout, ""))
	assert.Check(t, is.Contains(r.stderr, "Usage: incluster COMMAND"))
}

func TestUnknownCommand(t *testing.T) {
	r := runProgram(t, "", nil, "deploy")

	assert.Check(t, is.Equal(r.code, 2))
	assert.Check(t, is.Equal(r.stdout, ""))
	assert.Check(t, is.Contains(r.stderr, `unknown command "deploy"`))
}

func TestUnknownFlag(t *testing.T) {
	r := runProgram(t, "", nil, "push", "--nope", "dir", "127.0.0.1:1/o/a:v1")

	assert.Check(t, is.Equal(r.code, 2))
	assert.Check(t, is.Equal(r.stdout, ""))
	assert.Check(t, is.Contains(r.stderr, "flag provided but not defined: -nope"))
	assert.Check(t, is.Contains(r.stderr, "incluster push --help"))
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := runProgram(t, "", nil, args...)
		assert.Check(t, is.Equal(r.code, 0), "args %q", args)
		assert.Check(t, is.Equal(r.stdout, testVersion+"\n"), "args %q", args)
		assert.Check(t, is.Equal(r.stderr, ""), "args %q", args)
	}
}

func TestVersionHelpHasNoFlagsHeader(t *testing.T) {
	r := runProgram(t, "", nil, "version", "--help")

	assert.Check(t, is.Equal(r.code, 0))
	assert.Check(t, !strings.Contains(r.stdout, "Flags:"), "stdout: %s", r.stdout)
}

func TestPush(t *testing.T) {
	host := startRegistry(t, "")
	dir, digest := writeLayout(t)
	ref := host + "/owner/app:v0.1"

	r := runProgram(t, "", nil, "push", dir, ref)

	assert.Check(t, is.Equal(r.code, 0), "stderr: %s", r.stderr)
	assert.Check(t, is.Equal(r.stdout, ref+"@"+digest+"\n"))
	assert.Check(t, is.Contains(r.stderr, "pushed 3 of 3 blobs"))
	assert.Check(t, is.Contains(r.stderr, `msg="uploaded blob"`))
}

func TestPushTwice(t *testing.T) {
	host := startRegistry(t, "")
	dir, digest := writeLayout(t)
	ref := host + "/owner/app:v0.1"
	first := runProgram(t, "", nil, "push", dir, ref)
	assert.Assert(t, is.Equal(first.code, 0), "stderr: %s", first.stderr)

	second := runProgram(t, "", nil, "push", dir, ref)

	assert.Check(t, is.Equal(second.code, 0), "stderr: %s", second.stderr)
	assert.Check(t, is.Equal(second.stdout, ref+"@"+digest+"\n"))
	assert.Check(t, is.Contains(second.stderr, "unchanged: the tag already points at "+digest))
}

func TestPushTagExists(t *testing.T) {
	host := startRegistry(t, "")
	firstDir, firstDigest := writeLayout(t)
	otherDir, otherDigest := writeLayout(t)
	ref := host + "/owner/app:v0.1"
	first := runProgram(t, "", nil, "push", firstDir, ref)
	assert.Assert(t, is.Equal(first.code, 0), "stderr: %s", first.stderr)

	r := runProgram(t, "", nil, "push", otherDir, ref)

	assert.Check(t, is.Equal(r.code, 3))
	assert.Check(t, is.Equal(r.stdout, ""))
	assert.Check(t, is.Contains(r.stderr, firstDigest))
	assert.Check(t, is.Contains(r.stderr, otherDigest))
	assert.Check(t, is.Contains(r.stderr, "pass --overwrite to move it"))

	r = runProgram(t, "", nil, "push", otherDir, ref, "--overwrite")

	assert.Check(t, is.Equal(r.code, 0), "stderr: %s", r.stderr)
	assert.Check(t, is.Equal(r.stdout, ref+"@"+otherDigest+"\n"))
	assert.Check(t, is.Contains(r.stderr, "moved the tag from "+firstDigest))
}

func TestPushJSON(t *testing.T) {
	host := startRegistry(t, "")
	dir, digest := writeLayout(t)

	r := runProgram(t, "", nil, "push", "--json", "--quiet", dir, host+"/owner/app:v0.1")

	assert.Check(t, is.Equal(r.code, 0), "stderr: %s", r.stderr)
	assert.Check(t, is.Equal(r.stderr, ""))
	var result struct {
		Reference string
		Digest    string
		Unchanged bool
		Blobs     []struct {
			Digest        string
			Size          int64
			Uploaded      bool
			BytesUploaded int64
		}
	}
	assert.NilError(t, json.Unmarshal([]byte(r.stdout), &result))
	assert.Check(t, is.Equal(result.Digest, digest))
	assert.Check(t, is.Equal(result.Reference, host+"/owner/app:v0.1@"+digest))
	assert.Check(t, is.Len(result.Blobs, 3))
	for _, b := range result.Blobs {
		assert.Check(t, b.Uploaded, "blob %s", b.Digest)
		assert.Check(t, is.Equal(b.BytesUploaded, b.Size), "blob %s", b.Digest)
	}
	assertCamelCaseKeys(t, r.stdout)
}

// assertCamelCaseKeys checks that every key of the JSON document starts
// with a lower-case letter.
func assertCamelCaseKeys(t *testing.T, document string) {
	t.Helper()
	var value any
	assert.NilError(t, json.Unmarshal([]byte(document), &value))
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for key, child := range v {
				assert.Check(t, key != "" && unicode.IsLower(rune(key[0])), "key %s.%s is not camelCase", path, key)
				walk(path+"."+key, child)
			}
		case []any:
			for i, child := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), child)
			}
		}
	}
	walk("", value)
}

func TestPushToken(t *testing.T) {
	const token = "cli-secret-token-0123456789"
	host := startRegistry(t, token)
	dir, digest := writeLayout(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	assert.NilError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
	ref := host + "/owner/app:v0.1"

	fromFile := runProgram(t, "", nil, "push", "--username", "owner", "--token-file", tokenFile, dir, ref)
	fromStdin := runProgram(t, token, []string{"INCLUSTER_USERNAME=owner"}, "push", "--token-file", "-", dir, ref)
	fromEnv := runProgram(t, "", []string{"INCLUSTER_USERNAME=owner", "INCLUSTER_TOKEN=" + token}, "push", dir, ref)

	for name, r := range map[string]execution{"file": fromFile, "stdin": fromStdin, "environment": fromEnv} {
		assert.Check(t, is.Equal(r.code, 0), "token from %s: %s", name, r.stderr)
		assert.Check(t, is.Equal(r.stdout, ref+"@"+digest+"\n"), "token from %s", name)
		assert.Check(t, !strings.Contains(r.stderr, token), "token from %s", name)
	}
}

func TestPushWrongToken(t *testing.T) {
	const token = "wrong-secret-token-0123456789"
	host := startRegistry(t, "right-token")
	dir, _ := writeLayout(t)

	r := runProgram(t, "", []string{"INCLUSTER_USERNAME=owner", "INCLUSTER_TOKEN=" + token}, "push", dir, host+"/owner/app:v0.1")

	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Equal(r.stdout, ""))
	assert.Check(t, is.Contains(r.stderr, `registry rejected the credentials for user "owner" (HTTP 401 from `))
	assert.Check(t, !strings.Contains(r.stderr, token), "the token is in the output: %s", r.stderr)
}

func TestNextTagWrongToken(t *testing.T) {
	const token = "wrong-secret-token-0123456789"
	host := startRegistry(t, "right-token")
	repo := host + "/owner/app"

	r := runProgram(t, "", []string{"INCLUSTER_USERNAME=owner", "INCLUSTER_TOKEN=" + token}, "next-tag", repo)

	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Equal(r.stdout, ""))
	assert.Check(t, strings.HasPrefix(r.stderr, "incluster: list tags of "+repo+": registry rejected the credentials"), "stderr: %s", r.stderr)
	assert.Check(t, is.Equal(strings.Count(r.stderr, "list tags of"), 1), "stderr: %s", r.stderr)
	assert.Check(t, is.Equal(strings.Count(r.stderr, "\n"), 1), "one line: %q", r.stderr)
	assert.Check(t, is.Contains(r.stderr, "read:package"))
	assert.Check(t, !strings.Contains(r.stderr, "write:package"), "stderr: %s", r.stderr)
	assert.Check(t, !strings.HasSuffix(r.stderr, ": \n"), "stderr: %q", r.stderr)
}

// startSilentServer accepts connections on 127.0.0.1 and never responds.
func startSilentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NilError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}()
	return l.Addr().String()
}

func TestTimeoutOnSilentRegistry(t *testing.T) {
	host := startSilentServer(t)
	dir, _ := writeLayout(t)
	for name, args := range map[string][]string{
		"push":     {"push", "--timeout", "1s", dir, host + "/owner/app:v1"},
		"next-tag": {"next-tag", "--timeout", "1s", host + "/owner/app"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runProgram(t, "", nil, args...)
			assert.Check(t, is.Equal(r.code, 1))
			assert.Check(t, is.Equal(r.stdout, ""))
			assert.Check(t, is.Contains(r.stderr, "registry unreachable: timed out waiting for a response (--timeout 1s)\n"))
			assert.Check(t, !strings.Contains(r.stderr, "https://"), "stderr: %s", r.stderr)
		})
	}
}

func TestPushUnknownOwner(t *testing.T) {
	handler := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	// Gitea responds to uploads for an owner that does not exist with 404
	// and a plain-text body.
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v2/nobody/") {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "Not found.\n")
			return
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(server.Close)
	dir, _ := writeLayout(t)

	r := runProgram(t, "", nil, "push", "--quiet", dir, strings.TrimPrefix(server.URL, "http://")+"/nobody/app:v1")

	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, `owner "nobody" does not exist`))
	assert.Check(t, is.Equal(strings.Count(r.stderr, "\n"), 1), "one line: %q", r.stderr)
}

func TestPushUsageErrors(t *testing.T) {
	dir, _ := writeLayout(t)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"one argument", nil, []string{"push", dir}, "expected IMAGE and REFERENCE, got 1 argument\n"},
		{"missing tag", nil, []string{"push", dir, "127.0.0.1:1/owner/app"}, `reference "127.0.0.1:1/owner/app": a tag is required: expected REGISTRY/OWNER/NAME:TAG`},
		{"digest", nil, []string{"push", dir, "127.0.0.1:1/owner/app@sha256:"}, "give a tag, not a digest"},
		{"tag and digest", nil, []string{"push", dir, "127.0.0.1:1/owner/app:v1@" + testDigest}, "give a tag, not a digest"},
		{"name without owner", nil, []string{"push", dir, "127.0.0.1:1/app:v1"}, `the image name "app" is not OWNER/NAME`},
		{"name with three parts", nil, []string{"push", dir, "127.0.0.1:1/a/b/c:v1"}, `the image name "a/b/c" is not OWNER/NAME`},
		{"invalid tag", nil, []string{"push", dir, "127.0.0.1:1/owner/app:-x"}, "a tag must start with a letter, a digit or '_'"},
		{"token without username", []string{"INCLUSTER_TOKEN=t"}, []string{"push", dir, "127.0.0.1:1/owner/app:v1"}, "a token needs a username"},
		{"zero timeout", nil, []string{"push", "--timeout", "0s", dir, "127.0.0.1:1/owner/app:v1"}, "--timeout 0s: must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runProgram(t, "", tc.env, tc.args...)
			assert.Check(t, is.Equal(r.code, 2))
			assert.Check(t, is.Equal(r.stdout, ""))
			assert.Check(t, is.Contains(r.stderr, tc.want))
		})
	}
}

func TestTokenFileMissingOrEmpty(t *testing.T) {
	dir, _ := writeLayout(t)
	emptyFile := filepath.Join(t.TempDir(), "token")
	assert.NilError(t, os.WriteFile(emptyFile, []byte("\n"), 0o600))
	missingFile := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		name  string
		stdin string
		file  string
		want  string
	}{
		{"empty file", "", emptyFile, "read the token: " + emptyFile + " is empty"},
		{"missing file", "", missingFile, "read the token: open " + missingFile + ": no such file or directory"},
		{"empty standard input", "", "-", "read the token from standard input: it is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runProgram(t, tc.stdin, nil, "push", "--username", "u", "--token-file", tc.file, dir, "127.0.0.1:1/owner/app:v1")
			assert.Check(t, is.Equal(r.code, 1))
			assert.Check(t, is.Equal(r.stdout, ""))
			assert.Check(t, is.Contains(r.stderr, tc.want))
		})
	}
}

func TestPushNotAnImage(t *testing.T) {
	text := filepath.Join(t.TempDir(), "notes.txt")
	assert.NilError(t, os.WriteFile(text, []byte("hello\n"), 0o644))
	folder := t.TempDir()
	for _, tc := range []struct {
		path string
		want string
	}{
		{text, "open image " + text + ": the file is not a tar archive or an OCI layout directory"},
		{folder, "open image " + folder + ": the directory is not an OCI layout"},
	} {
		r := runProgram(t, "", nil, "push", tc.path, "127.0.0.1:1/owner/app:v1")
		assert.Check(t, is.Equal(r.code, 1), "image %s", tc.path)
		assert.Check(t, is.Contains(r.stderr, tc.want), "image %s", tc.path)
	}
}

func TestPushMissingImage(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.tar")

	r := runProgram(t, "", nil, "push", missing, "127.0.0.1:1/owner/app:v1")

	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Equal(r.stdout, ""))
	assert.Check(t, is.Contains(r.stderr, "open image "+missing))
}

func TestNextTag(t *testing.T) {
	host := startRegistry(t, "")
	dir, _ := writeLayout(t)
	repo := host + "/owner/app"

	r := runProgram(t, "", nil, "next-tag", repo)
	assert.Check(t, is.Equal(r.code, 0), "stderr: %s", r.stderr)
	assert.Check(t, is.Equal(r.stdout, "v0.1\n"))

	for _, tag := range []string{"v0.1", "v0.2", "abc1234"} {
		p := runProgram(t, "", nil, "push", "--quiet", dir, repo+":"+tag)
		assert.Assert(t, is.Equal(p.code, 0), "stderr: %s", p.stderr)
	}

	r = runProgram(t, "", nil, "next-tag", repo)
	assert.Check(t, is.Equal(r.code, 0), "stderr: %s", r.stderr)
	assert.Check(t, is.Equal(r.stdout, "v0.3\n"))
	assert.Check(t, is.Equal(r.stderr, ""))
}

func TestNextTagFromCommit(t *testing.T) {
	const sha = "89abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"next-tag", "--commit", sha}, "89abcde\n"},
		{[]string{"next-tag", "--commit", sha, "--length", "12"}, "89abcdef0123\n"},
	} {
		r := runProgram(t, "", nil, tc.args...)
		assert.Check(t, is.Equal(r.code, 0), "args %q: %s", tc.args, r.stderr)
		assert.Check(t, is.Equal(r.stdout, tc.want), "args %q", tc.args)
	}
}

func TestNextTagUsageErrors(t *testing.T) {
	const sha = "89abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"next-tag"}, "expected REPOSITORY or --commit SHA, got 0 arguments"},
		{[]string{"next-tag", "a", "b"}, "expected REPOSITORY or --commit SHA, got 2 arguments"},
		{[]string{"next-tag", "app"}, "expected REGISTRY/OWNER/NAME"},
		{[]string{"next-tag", "127.0.0.1:1/app"}, `the image name "app" is not OWNER/NAME`},
		{[]string{"next-tag", "127.0.0.1:1/a/b/c"}, `the image name "a/b/c" is not OWNER/NAME`},
		{[]string{"next-tag", "--commit", "xyz"}, "is not hexadecimal"},
		{[]string{"next-tag", "--commit", ""}, "--commit: the commit SHA is empty"},
		{[]string{"next-tag", "--commit", "abc", "127.0.0.1:1/o/a"}, "--commit takes no REPOSITORY"},
		{[]string{"next-tag", "--commit", sha, "--length", "0"}, "--length 0: must be between 4 and 128"},
		{[]string{"next-tag", "--commit", sha, "--length", "3"}, "--length 3: must be between 4 and 128"},
		{[]string{"next-tag", "--commit", sha, "--length", "-1"}, "--length -1: must be between 4 and 128"},
		{[]string{"next-tag", "--length", "8", "127.0.0.1:1/o/a"}, "--length needs --commit"},
		{[]string{"next-tag", "--timeout", "0s", "127.0.0.1:1/o/a"}, "--timeout 0s: must be positive"},
	} {
		r := runProgram(t, "", nil, tc.args...)
		assert.Check(t, is.Equal(r.code, 2), "args %q", tc.args)
		assert.Check(t, is.Equal(r.stdout, ""), "args %q", tc.args)
		assert.Check(t, is.Contains(r.stderr, tc.want), "args %q", tc.args)
	}
}

func TestNextTagUnreachable(t *testing.T) {
	server := httptest.NewServer(http.NotFoundHandler())
	repo := strings.TrimPrefix(server.URL, "http://") + "/owner/app"
	server.Close()

	r := runProgram(t, "", nil, "next-tag", repo)

	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Equal(r.stdout, ""))
	assert.Check(t, is.Contains(r.stderr, fmt.Sprintf("list tags of %s: registry unreachable", repo)))
}
