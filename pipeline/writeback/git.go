package writeback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/incluster/incluster/pipeline/manifest"
)

// DefaultGitUsername is the user name sent with the token over HTTP basic
// authentication. GitHub needs it for app installation tokens, and Gitea
// and GitLab accept any name with a personal access token.
const DefaultGitUsername = "x-access-token"

// GitConfig configures the git backend.
type GitConfig struct {
	// URL is the base URL of the git host, such as https://github.com.
	// The remote is URL/Repository.git.
	URL string
	// Username is sent with the token. Empty means DefaultGitUsername.
	Username string
	// Credentials give the access token, sent as the basic-auth password
	// and never as part of a URL.
	Credentials Credentials
	// CABundle adds PEM certificates to trust for an HTTPS remote.
	CABundle []byte
	// Logger receives retries and recoveries. Nil discards them.
	Logger *slog.Logger
	// Backoff sets the delays between attempts.
	Backoff Backoff
}

// Git commits with go-git in memory and pushes over git's smart HTTP
// protocol, so it works with any git host. Each attempt fetches only the
// tip commit (depth 1), applies the rewrite, and pushes with a lease on
// the tip it read, so the server updates the branch only when no other
// push landed in between. A rejected push starts a new attempt on the new tip:
// the rewrite is applied again instead of rebasing the old commit, so an
// unrelated change to a neighbouring line never causes a merge conflict.
type Git struct {
	cfg GitConfig
	log *slog.Logger
}

var _ Writer = (*Git)(nil)

// NewGit returns a git backend for cfg.
func NewGit(cfg GitConfig) (*Git, error) {
	if cfg.URL == "" {
		return nil, fmt.Errorf("new git writer: %w: URL is empty", ErrInvalidRequest)
	}
	if err := checkBaseURL("new git writer", cfg.URL); err != nil {
		return nil, err
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	if cfg.Username == "" {
		cfg.Username = DefaultGitUsername
	}
	return &Git{cfg: cfg, log: loggerOrDiscard(cfg.Logger)}, nil
}

// gitState is the state that Write keeps between attempts.
type gitState struct {
	req    Request
	remote string
	auth   transport.AuthMethod
	// pending is a pushed commit whose outcome is unknown, because the
	// connection failed after the push started.
	pending *gitPending
}

type gitPending struct {
	commit  plumbing.Hash
	files   []string
	changes []manifest.Change
}

// Write applies req to the files at the tip of the branch and pushes the
// changed files in one commit, retrying on conflicts.
func (g *Git) Write(ctx context.Context, req Request) (Result, error) {
	if err := req.validate(); err != nil {
		return Result{}, fmt.Errorf("write %s: %w", req.Repository, err)
	}
	if req.PullRequest != nil {
		return Result{}, fmt.Errorf("write %s: %w: the git backend cannot open pull requests; use the Gitea backend or leave PullRequest nil", req.Repository, ErrInvalidRequest)
	}
	token, err := g.cfg.Credentials.load()
	if err != nil {
		return Result{}, fmt.Errorf("write %s: %w", req.Repository, err)
	}
	ctx, cancel := withRequestTimeout(ctx, req.Timeout)
	defer cancel()

	st := &gitState{
		req:    req,
		remote: g.cfg.URL + "/" + req.Repository + ".git",
		auth:   &githttp.BasicAuth{Username: g.cfg.Username, Password: token.value},
	}
	op := fmt.Sprintf("write %s@%s", req.Repository, req.target())
	return retry(ctx, g.cfg.Backoff, g.log, op, func(ctx context.Context, _ int) (Result, error) {
		return g.attempt(ctx, st)
	})
}

// attempt runs one fetch, rewrite, commit and push.
func (g *Git) attempt(ctx context.Context, st *gitState) (Result, error) {
	req := st.req
	target := req.target()
	where := fmt.Sprintf("%s@%s", req.Repository, target)

	refs, err := g.listBranches(ctx, st)
	if err != nil {
		return Result{}, err
	}
	if res, ok := st.recoverAtTip(refs); ok {
		g.log.Info("write-back found its earlier push on the branch tip", "repository", req.Repository, "branch", target, "commit", res.Commit)
		return res, nil
	}

	// A target branch that exists receives the commit on its own tip,
	// and one that does not is created from the base branch.
	readBranch := target
	_, targetExists := refs[target]
	if !targetExists {
		if target == req.BaseBranch {
			return Result{}, fmt.Errorf("read branch %s: %w", where, ErrBranchNotFound)
		}
		readBranch = req.BaseBranch
		if _, ok := refs[readBranch]; !ok {
			return Result{}, fmt.Errorf("read branch %s@%s: %w", req.Repository, readBranch, ErrBranchNotFound)
		}
	}

	repo, head, err := g.fetch(ctx, st, readBranch)
	if err != nil {
		return Result{}, err
	}
	commit, tree, current, err := readFiles(repo, head, req, readBranch)
	if err != nil {
		return Result{}, err
	}

	rw, err := applyUpdates(req.Files, current, req.Updates)
	if err != nil {
		return Result{}, fmt.Errorf("write %s: %w", where, err)
	}
	if !rw.changed() {
		if res, ok := st.recoverInHistory(repo); ok {
			g.log.Info("write-back found its earlier push in the branch history", "repository", req.Repository, "branch", target, "commit", res.Commit)
			return res, nil
		}
		return Result{Changed: false, Branch: target}, nil
	}

	message, err := messageFor(req, target, rw)
	if err != nil {
		return Result{}, fmt.Errorf("write %s: %w", where, err)
	}
	newCommit, err := writeCommit(repo, commit, tree, rw, message, req)
	if err != nil {
		return Result{}, fmt.Errorf("write %s: create commit: %w", where, err)
	}

	// The lease is the tip that the rewrite started from, which may be
	// newer than the listing when the branch moved in between.
	var lease *plumbing.Hash
	if targetExists {
		lease = &head
	}
	if err := g.push(ctx, st, repo, newCommit, lease, rw); err != nil {
		return Result{}, err
	}
	return Result{
		Changed: true,
		Commit:  newCommit.String(),
		Branch:  target,
		Changes: rw.changes,
		Files:   rw.files,
	}, nil
}

// readFiles returns the commit head of branch, its tree, and the content
// of the Request's files in it.
func readFiles(repo *git.Repository, head plumbing.Hash, req Request, branch string) (*object.Commit, *object.Tree, map[string][]byte, error) {
	commit, err := repo.CommitObject(head)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read commit %s of %s@%s: %w", head, req.Repository, branch, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read tree of %s in %s@%s: %w", head, req.Repository, branch, err)
	}
	current := make(map[string][]byte, len(req.Files))
	for _, path := range req.Files {
		data, err := readBlob(tree, path)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("read %s in %s@%s: %w", path, req.Repository, branch, err)
		}
		current[path] = data
	}
	return commit, tree, current, nil
}

// listBranches returns the remote's branches by short name.
func (g *Git) listBranches(ctx context.Context, st *gitState) (map[string]plumbing.Hash, error) {
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{st.remote}})
	list, err := remote.ListContext(ctx, &git.ListOptions{Auth: st.auth, CABundle: g.cfg.CABundle})
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil, classifyGit(fmt.Sprintf("list branches of %s", st.req.Repository), err)
	}
	refs := make(map[string]plumbing.Hash, len(list))
	for _, ref := range list {
		if ref.Name().IsBranch() && ref.Type() == plumbing.HashReference {
			refs[ref.Name().Short()] = ref.Hash()
		}
	}
	return refs, nil
}

// fetch fetches the tip of branch into a new in-memory repository and
// returns the tip. It fetches more history when a pending push must be
// looked for.
func (g *Git) fetch(ctx context.Context, st *gitState, branch string) (*git.Repository, plumbing.Hash, error) {
	repo, err := git.Init(memory.NewStorage(), nil)
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("init repository: %w", err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{st.remote}}); err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("create remote: %w", err)
	}
	depth := 1
	if st.pending != nil {
		// Enough history to find the pending push under later commits.
		depth = pendingSearchDepth
	}
	tracking := plumbing.NewRemoteReferenceName("origin", branch)
	err = repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{config.RefSpec("+" + plumbing.NewBranchReferenceName(branch).String() + ":" + tracking.String())},
		Depth:      depth,
		Auth:       st.auth,
		CABundle:   g.cfg.CABundle,
		Tags:       git.NoTags,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		if strings.Contains(err.Error(), "couldn't find remote ref") {
			// The branch was deleted after the listing.
			return nil, plumbing.ZeroHash, fmt.Errorf("fetch %s@%s: %w: %w", st.req.Repository, branch, ErrConflict, err)
		}
		return nil, plumbing.ZeroHash, classifyGit(fmt.Sprintf("fetch %s@%s", st.req.Repository, branch), err)
	}
	ref, err := repo.Reference(tracking, true)
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("fetch %s@%s: %w", st.req.Repository, branch, err)
	}
	return repo, ref.Hash(), nil
}

// push pushes newCommit to the target branch. With a lease, the server
// accepts the push only while the branch is still at the leased commit.
// Without one, the branch must not exist yet.
func (g *Git) push(ctx context.Context, st *gitState, repo *git.Repository, newCommit plumbing.Hash, lease *plumbing.Hash, rw rewrite) error {
	req := st.req
	target := req.target()
	where := fmt.Sprintf("%s@%s", req.Repository, target)
	local := plumbing.NewBranchReferenceName(target)
	if err := repo.Storer.SetReference(plumbing.NewHashReference(local, newCommit)); err != nil {
		return fmt.Errorf("push %s: set local branch: %w", where, err)
	}
	opts := &git.PushOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{config.RefSpec(local.String() + ":" + local.String())},
		Auth:       st.auth,
		CABundle:   g.cfg.CABundle,
	}
	if lease != nil {
		// go-git compares the lease with the remote-tracking branch.
		tracking := plumbing.NewRemoteReferenceName("origin", target)
		if err := repo.Storer.SetReference(plumbing.NewHashReference(tracking, *lease)); err != nil {
			return fmt.Errorf("push %s: set tracking branch: %w", where, err)
		}
		opts.ForceWithLease = &git.ForceWithLease{RefName: local, Hash: *lease}
	}
	var progress remoteMessages
	opts.Progress = &progress

	err := repo.PushContext(ctx, opts)
	if err == nil {
		return nil
	}
	// A failed push is judged by where the branch is now rather than by
	// the error text, which differs between servers: at the new commit
	// the push landed, elsewhere than the lease it lost a race.
	op := "push " + where
	detail := fmt.Errorf("%w%s", err, progress.suffix())
	if transient(err) {
		// The server may have updated the branch before the connection
		// failed, and another push may land on top before the listing
		// below. The next attempt looks for the commit in the history.
		st.pending = &gitPending{commit: newCommit, files: rw.files, changes: rw.changes}
	}
	refs, lerr := g.listBranches(ctx, st)
	if lerr != nil {
		st.pending = &gitPending{commit: newCommit, files: rw.files, changes: rw.changes}
		// Whether the push landed is unknown until the next attempt.
		return fmt.Errorf("%s: %w: %w; then %w", op, ErrUnavailable, detail, lerr)
	}
	now, exists := refs[target]
	switch {
	case exists && now == newCommit:
		return nil
	case lease == nil && exists, lease != nil && (!exists || now != *lease):
		return fmt.Errorf("%s: %w: %w", op, ErrConflict, detail)
	}
	msg := strings.ToLower(detail.Error())
	switch {
	case errors.Is(err, transport.ErrAuthorizationFailed), errors.Is(err, transport.ErrAuthenticationRequired):
		return fmt.Errorf("%s: %w: the token cannot push: %w", op, ErrPermission, detail)
	case strings.Contains(msg, "protected") || strings.Contains(msg, "hook declined"):
		return fmt.Errorf("%s: %w: %w", op, ErrProtectedBranch, detail)
	case pushConflict(msg):
		return fmt.Errorf("%s: %w: %w", op, ErrConflict, detail)
	case transient(err):
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, detail)
	}
	return fmt.Errorf("%s: %w", op, detail)
}

// recoverAtTip reports the pending push as this Write's result when the
// target branch points at it.
func (st *gitState) recoverAtTip(refs map[string]plumbing.Hash) (Result, bool) {
	p := st.pending
	if p == nil || refs[st.req.target()] != p.commit {
		return Result{}, false
	}
	return p.result(st.req.target()), true
}

// recoverInHistory reports the pending push as this Write's result when
// the fetched history contains it. The fetch holds only ancestors of the
// tip, so a pending commit in the store is on the branch.
func (st *gitState) recoverInHistory(repo *git.Repository) (Result, bool) {
	p := st.pending
	if p == nil {
		return Result{}, false
	}
	if _, err := repo.CommitObject(p.commit); err != nil {
		return Result{}, false
	}
	return p.result(st.req.target()), true
}

func (p *gitPending) result(branch string) Result {
	return Result{Changed: true, Commit: p.commit.String(), Branch: branch, Changes: p.changes, Files: p.files}
}

// readBlob returns the content of the regular file at path in tree.
func readBlob(tree *object.Tree, path string) ([]byte, error) {
	entry, err := tree.FindEntry(path)
	if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
		return nil, ErrFileNotFound
	}
	if err != nil {
		return nil, err
	}
	if entry.Mode == filemode.Dir {
		return nil, fmt.Errorf("%w: it is a directory", ErrFileNotFound)
	}
	if !entry.Mode.IsFile() {
		return nil, fmt.Errorf("%w: mode %s is not a regular file", ErrFileNotFound, entry.Mode)
	}
	f, err := tree.TreeEntryFile(entry)
	if err != nil {
		return nil, err
	}
	r, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// writeCommit stores the changed blobs, the trees above them and a commit
// on top of parent, and returns the commit's hash.
func writeCommit(repo *git.Repository, parent *object.Commit, tree *object.Tree, rw rewrite, message string, req Request) (plumbing.Hash, error) {
	s := repo.Storer
	blobs := make(map[string]plumbing.Hash, len(rw.files))
	for _, path := range rw.files {
		obj := s.NewEncodedObject()
		obj.SetType(plumbing.BlobObject)
		w, err := obj.Writer()
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if _, err := w.Write(rw.content[path]); err != nil {
			return plumbing.ZeroHash, err
		}
		if err := w.Close(); err != nil {
			return plumbing.ZeroHash, err
		}
		h, err := s.SetEncodedObject(obj)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		blobs[path] = h
	}
	root, err := writeTree(repo, tree, blobs)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	author, committer := req.signatures()
	now := time.Now()
	c := &object.Commit{
		Author:       object.Signature{Name: author.Name, Email: author.Email, When: now},
		Committer:    object.Signature{Name: committer.Name, Email: committer.Email, When: now},
		Message:      message,
		TreeHash:     root,
		ParentHashes: []plumbing.Hash{parent.Hash},
	}
	obj := s.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

// writeTree stores a copy of tree with the blobs of existing files
// replaced, and the copies of every tree above them, and returns the new
// tree's hash. Paths in blobs are relative to tree.
func writeTree(repo *git.Repository, tree *object.Tree, blobs map[string]plumbing.Hash) (plumbing.Hash, error) {
	entries := make([]object.TreeEntry, len(tree.Entries))
	copy(entries, tree.Entries)
	index := make(map[string]int, len(entries))
	for i, e := range entries {
		index[e.Name] = i
	}
	nested := make(map[string]map[string]plumbing.Hash)
	for path, h := range blobs {
		dir, rest, ok := strings.Cut(path, "/")
		if ok {
			if nested[dir] == nil {
				nested[dir] = make(map[string]plumbing.Hash)
			}
			nested[dir][rest] = h
			continue
		}
		i, found := index[path]
		if !found || !entries[i].Mode.IsFile() {
			return plumbing.ZeroHash, fmt.Errorf("update %s: %w", path, ErrFileNotFound)
		}
		entries[i].Hash = h
	}
	for dir, sub := range nested {
		i, found := index[dir]
		if !found || entries[i].Mode != filemode.Dir {
			return plumbing.ZeroHash, fmt.Errorf("update %s: %w", dir, ErrFileNotFound)
		}
		subtree, err := repo.TreeObject(entries[i].Hash)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read tree %s: %w", dir, err)
		}
		h, err := writeTree(repo, subtree, sub)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries[i].Hash = h
	}
	obj := repo.Storer.NewEncodedObject()
	if err := (&object.Tree{Entries: entries}).Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return repo.Storer.SetEncodedObject(obj)
}

// classifyGit wraps the sentinel that matches a failed list or fetch.
func classifyGit(op string, err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(err, context.DeadlineExceeded):
		// Usually Backoff.AttemptTimeout; retry stops by itself when the
		// Write's own deadline has passed.
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("%s: %w (or the token cannot read it)", op, ErrRepositoryNotFound)
	case errors.Is(err, transport.ErrAuthenticationRequired):
		return fmt.Errorf("%s: %w: the token is missing, invalid or expired: %w", op, ErrPermission, err)
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("%s: %w: %w", op, ErrPermission, err)
	case transient(err):
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// transient reports whether a git transport error may go away: a failed
// or reset connection, a truncated response, or a 5xx response.
func transient(err error) bool {
	var unexpected *plumbing.UnexpectedError
	if errors.As(err, &unexpected) {
		// UnexpectedError has no Unwrap method.
		err = unexpected.Err
	}
	var httpErr *githttp.Err
	if errors.As(err, &httpErr) {
		return httpErr.StatusCode() >= 500
	}
	return networkFailure(err)
}

// remoteMessages collects the "remote:" lines that the server sends during
// a push, such as a hook's rejection reason, up to 4 KiB.
type remoteMessages struct{ buf bytes.Buffer }

func (m *remoteMessages) Write(p []byte) (int, error) {
	if room := 4096 - m.buf.Len(); room > 0 {
		m.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// suffix returns the messages formatted for an error, or "".
func (m *remoteMessages) suffix() string {
	text := strings.TrimSpace(strings.ReplaceAll(m.buf.String(), "\r", "\n"))
	if text == "" {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		// Gitea frames its hook messages with bare "error:" lines.
		if l = strings.TrimSpace(l); l != "" && l != "error:" {
			lines = append(lines, l)
		}
	}
	return " (remote: " + strings.Join(lines, "; ") + ")"
}
