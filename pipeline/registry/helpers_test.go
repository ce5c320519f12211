package registry_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/binary"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"gotest.tools/v3/assert"
)

// testRegistry is go-containerregistry's in-memory registry on
// 127.0.0.1, with a count of the requests it served.
type testRegistry struct {
	Host string

	mu       sync.Mutex
	requests []string // "METHOD /path"
}

// startRegistry starts an in-memory registry. With users set, it requires
// HTTP basic authentication, and a user without write access may only
// read.
func startRegistry(t testing.TB, users map[string]userAccess) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	handler := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.requests = append(r.requests, req.Method+" "+req.URL.Path)
		r.mu.Unlock()
		if users != nil && !authorize(w, req, users) {
			return
		}
		handler.ServeHTTP(w, req)
	}))
	t.Cleanup(server.Close)
	r.Host = strings.TrimPrefix(server.URL, "http://")
	return r
}

type userAccess struct {
	token string
	write bool
}

// authorize responds 401 to wrong credentials and 403 for a write by a
// read-only user, as a registry with token scopes does.
func authorize(w http.ResponseWriter, req *http.Request, users map[string]userAccess) bool {
	user, token, ok := req.BasicAuth()
	access, known := users[user]
	if !ok || !known || access.token != token {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
		return false
	}
	if !access.write && req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`)
		return false
	}
	return true
}

// blobUploads counts the blob uploads the registry received.
func (r *testRegistry) blobUploads() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, req := range r.requests {
		if strings.HasPrefix(req, "POST ") && strings.HasSuffix(req, "/blobs/uploads/") {
			n++
		}
	}
	return n
}

func (r *testRegistry) resetRequests() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = nil
}

func randomImage(t testing.TB, size, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	assert.NilError(t, err)
	return img
}

// writeLayout writes an OCI layout whose index.json lists the given
// images and indexes.
func writeLayout(t testing.TB, artifacts ...any) string {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	assert.NilError(t, err)
	for _, a := range artifacts {
		switch a := a.(type) {
		case v1.Image:
			assert.NilError(t, p.AppendImage(a))
		case v1.ImageIndex:
			assert.NilError(t, p.AppendIndex(a))
		default:
			t.Fatalf("writeLayout: unexpected %T", a)
		}
	}
	return dir
}

// tarDirectory writes dir as a tarball, gzip-compressed if compress is
// set, with entry names relative to dir.
func tarDirectory(t *testing.T, dir string, compress bool) string {
	t.Helper()
	out, err := os.Create(filepath.Join(t.TempDir(), "image.tar"))
	assert.NilError(t, err)
	defer out.Close()
	var w io.Writer = out
	if compress {
		zw := gzip.NewWriter(out)
		defer func() { assert.NilError(t, zw.Close()) }()
		w = zw
	}
	tw := tar.NewWriter(w)
	defer func() { assert.NilError(t, tw.Close()) }()
	assert.NilError(t, tw.AddFS(os.DirFS(dir)))
	return out.Name()
}

// writeTar writes a tarball of the given regular files.
func writeTar(t *testing.T, files map[string]string) string {
	t.Helper()
	out, err := os.Create(filepath.Join(t.TempDir(), "image.tar"))
	assert.NilError(t, err)
	defer out.Close()
	tw := tar.NewWriter(out)
	for name, content := range files {
		assert.NilError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}))
		_, err := io.WriteString(tw, content)
		assert.NilError(t, err)
	}
	assert.NilError(t, tw.Close())
	return out.Name()
}

// startNXDomainServer starts a DNS server on 127.0.0.1 that responds to
// every query with NXDOMAIN, so that a test can look up an unknown host without
// sending a query off the machine.
func startNXDomainServer(t *testing.T) string {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	assert.NilError(t, err)
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, addr, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			reply := append([]byte(nil), buf[:n]...)
			flags := binary.BigEndian.Uint16(reply[2:4])
			// QR=1 (response), keep opcode and RD, RA=1, RCODE=3 (NXDOMAIN).
			flags = 0x8000 | flags&0x7900 | 0x0080 | 3
			binary.BigEndian.PutUint16(reply[2:4], flags)
			// Zero answer, authority and additional records.
			clear(reply[6:12])
			_, _ = conn.WriteTo(reply, addr)
		}
	}()
	return conn.LocalAddr().String()
}

// nxDomainTransport returns an HTTP transport whose resolver queries only
// the local NXDOMAIN server.
func nxDomainTransport(t *testing.T) http.RoundTripper {
	t.Helper()
	dnsAddr := startNXDomainServer(t)
	resolver := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", dnsAddr)
		},
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = (&net.Dialer{Resolver: resolver}).DialContext
	return transport
}

func fileNames(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	assert.NilError(t, err)
	return names
}

// closedPort returns 127.0.0.1:PORT for a port that nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NilError(t, err)
	addr := l.Addr().String()
	assert.NilError(t, l.Close())
	return addr
}

// startOwnerRegistry starts an in-memory registry that, like Gitea,
// responds 404 to uploads for every owner but the given ones.
func startOwnerRegistry(t *testing.T, owners ...string) string {
	t.Helper()
	handler := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		owner, _, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/v2/"), "/")
		if req.Method != http.MethodGet && req.Method != http.MethodHead && !slices.Contains(owners, owner) {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "Not found.\n")
			return
		}
		handler.ServeHTTP(w, req)
	}))
	t.Cleanup(server.Close)
	return strings.TrimPrefix(server.URL, "http://")
}

// silentServer accepts connections on 127.0.0.1 and reads from them but
// never responds. It records whether a client began a TLS handshake.
type silentServer struct {
	Host     string
	accepted atomic.Int64
	tls      atomic.Bool
}

func startSilentServer(t *testing.T) *silentServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NilError(t, err)
	s := &silentServer{Host: l.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Go(func() {
				first := make([]byte, 1)
				// A TLS connection starts with a handshake record, type 22.
				if n, _ := conn.Read(first); n == 1 && first[0] == 22 {
					s.tls.Store(true)
				}
				_, _ = io.Copy(io.Discard, conn)
			})
		}
	})
	return s
}

func (s *silentServer) connections() int64 { return s.accepted.Load() }
func (s *silentServer) sawTLS() bool       { return s.tls.Load() }

// gzipFile writes content gzip-compressed to a file.
func gzipFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "file.gz")
	out, err := os.Create(p)
	assert.NilError(t, err)
	zw := gzip.NewWriter(out)
	_, err = io.WriteString(zw, content)
	assert.NilError(t, err)
	assert.NilError(t, zw.Close())
	assert.NilError(t, out.Close())
	return p
}
