// Command goproxy serves a Go module cache's download folder
// ($GOMODCACHE/cache/download) as a read-only Go module proxy, the way an
// air-gapped cluster runs its own proxy. The GOPROXY protocol is exactly
// the layout of that folder, so a module downloaded on the host (go mod
// download) is served as it is.
//
// It also serves the checksum database lookups and tiles that the go
// command cached there (cache/download/sumdb/NAME), under the proxy's
// /sumdb/NAME/ path, so that clients keep verifying go.sum lines against
// sum.golang.org without reaching it.
//
// Usage:
//
//	goproxy -listen 0.0.0.0:8081 -dir "$(go env GOMODCACHE)/cache/download"
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"strings"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to listen on, host:port")
	dir := flag.String("dir", "", "module download folder to serve, usually $(go env GOMODCACHE)/cache/download")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*listen, *dir, logger); err != nil {
		logger.Error("goproxy failed", "err", err)
		os.Exit(1)
	}
}

func run(listen, dir string, logger *slog.Logger) error {
	if dir == "" {
		return errors.New("missing -dir: pass the module download folder, such as $(go env GOMODCACHE)/cache/download")
	}
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("open module folder %s: %w", dir, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("open module folder %s: not a directory", dir)
	}

	listener, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	server := &http.Server{Handler: newHandler(dir, logger)}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-signals
		logger.Info("stopping", "signal", sig.String())
		server.Close()
	}()

	logger.Info("serving Go modules", "listen", listener.Addr().String(), "dir", dir)
	if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", listen, err)
	}
	return nil
}

// newHandler returns the proxy's HTTP handler over the download folder dir.
func newHandler(dir string, logger *slog.Logger) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed: the proxy is read-only", http.StatusMethodNotAllowed)
			return
		}
		name := path.Clean(r.URL.Path)

		// The go command requests /sumdb/NAME/supported before it sends
		// checksum database requests through the proxy. The download
		// folder stores the responses to those requests under sumdb/NAME/.
		if rest, ok := strings.CutPrefix(name, "/sumdb/"); ok {
			db, _, _ := strings.Cut(rest, "/")
			if name == "/sumdb/"+db+"/supported" {
				if _, err := os.Stat(dir + "/sumdb/" + db); err != nil {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(http.StatusOK)
				return
			}
		}

		if strings.HasSuffix(name, "/@v/list") {
			serveList(w, r, dir+path.Dir(name), logger)
			return
		}

		// Folders have no meaning in the GOPROXY protocol, and a listing
		// would show the host's module cache.
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		recorder := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		files.ServeHTTP(recorder, r)
		if recorder.status >= http.StatusInternalServerError {
			logger.Error("serving a file failed", "path", name, "status", recorder.status)
		}
	})
}

// serveList sends the versions of a module whose zip file is in the
// folder versionDir, one per line. The cached list file can name versions
// of which only the go.mod file was downloaded (for version selection),
// and a client that picked one of those as the latest version would then
// fail to download it.
func serveList(w http.ResponseWriter, r *http.Request, versionDir string, logger *slog.Logger) {
	entries, err := os.ReadDir(versionDir)
	if errors.Is(err, os.ErrNotExist) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		logger.Error("listing module versions failed", "dir", versionDir, "err", err)
		http.Error(w, "listing module versions failed", http.StatusInternalServerError)
		return
	}
	var list strings.Builder
	for _, entry := range entries {
		if version, ok := strings.CutSuffix(entry.Name(), ".zip"); ok {
			list.WriteString(version + "\n")
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, list.String())
}

// statusRecorder records the status code that a handler sends.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}
