package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
)

// newTestProxy serves a download folder with one module, example.com/m:
// v1.0.0 complete, v1.1.0 with only its go.mod file (as version selection
// leaves it), and one cached checksum database lookup.
func newTestProxy(t *testing.T) *httptest.Server {
	t.Helper()
	dir := fs.NewDir(t, "download",
		fs.WithDir("example.com",
			fs.WithDir("m",
				fs.WithDir("@v",
					fs.WithFile("list", "v1.0.0\nv1.1.0\n"),
					fs.WithFile("v1.0.0.info", `{"Version":"v1.0.0"}`),
					fs.WithFile("v1.0.0.mod", "module example.com/m\n"),
					fs.WithFile("v1.0.0.zip", "zip"),
					fs.WithFile("v1.1.0.mod", "module example.com/m\n"),
				),
			),
		),
		fs.WithDir("sumdb",
			fs.WithDir("sum.golang.org",
				fs.WithDir("lookup",
					fs.WithFile("example.com", ""),
				),
			),
		),
	)
	server := httptest.NewServer(newHandler(dir.Path(), slog.New(slog.DiscardHandler)))
	t.Cleanup(server.Close)
	return server
}

func get(t *testing.T, server *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(server.URL + path)
	assert.NilError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	assert.NilError(t, err)
	return resp.StatusCode, string(body)
}

func TestProxyServesModuleFiles(t *testing.T) {
	server := newTestProxy(t)
	for path, want := range map[string]string{
		"/example.com/m/@v/v1.0.0.info": `{"Version":"v1.0.0"}`,
		"/example.com/m/@v/v1.0.0.mod":  "module example.com/m\n",
		"/example.com/m/@v/v1.0.0.zip":  "zip",
	} {
		status, body := get(t, server, path)
		assert.Check(t, is.Equal(status, http.StatusOK), path)
		assert.Check(t, is.Equal(body, want), path)
	}
}

func TestProxyListsOnlyVersionsWithZip(t *testing.T) {
	server := newTestProxy(t)
	status, body := get(t, server, "/example.com/m/@v/list")
	assert.Check(t, is.Equal(status, http.StatusOK))
	assert.Check(t, is.Equal(body, "v1.0.0\n"))
}

func TestProxyMissingModuleNotFound(t *testing.T) {
	server := newTestProxy(t)
	for _, path := range []string{
		"/example.com/other/@v/list",
		"/example.com/m/@v/v2.0.0.info",
	} {
		status, _ := get(t, server, path)
		assert.Check(t, is.Equal(status, http.StatusNotFound), path)
	}
}

func TestProxySumdbSupported(t *testing.T) {
	server := newTestProxy(t)
	status, _ := get(t, server, "/sumdb/sum.golang.org/supported")
	assert.Check(t, is.Equal(status, http.StatusOK))

	status, _ = get(t, server, "/sumdb/sum.example.org/supported")
	assert.Check(t, is.Equal(status, http.StatusNotFound))
}

func TestProxyHidesFolderListings(t *testing.T) {
	server := newTestProxy(t)
	for _, path := range []string{"/", "/example.com/", "/example.com/m/@v/"} {
		status, _ := get(t, server, path)
		assert.Check(t, is.Equal(status, http.StatusNotFound), path)
	}
}

func TestProxyRejectsWrites(t *testing.T) {
	server := newTestProxy(t)
	resp, err := http.Post(server.URL+"/example.com/m/@v/v1.0.0.zip", "application/zip", nil)
	assert.NilError(t, err)
	resp.Body.Close()
	assert.Check(t, is.Equal(resp.StatusCode, http.StatusMethodNotAllowed))
}
