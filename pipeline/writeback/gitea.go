package writeback

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"code.gitea.io/sdk/gitea"

	"github.com/incluster/incluster/pipeline/manifest"
)

// GiteaConfig configures the Gitea backend.
type GiteaConfig struct {
	// URL is Gitea's base URL, such as http://gitea.gitea.svc:3000.
	URL string
	// Credentials give the access token, which needs the
	// write:repository scope.
	Credentials Credentials
	// HTTPClient sends the API requests. Nil means a client without a
	// timeout of its own, because Backoff.AttemptTimeout bounds each
	// attempt.
	HTTPClient *http.Client
	// Logger receives retries and recoveries. Nil discards them.
	Logger *slog.Logger
	// Backoff sets the delays between attempts.
	Backoff Backoff
}

// Gitea commits through Gitea's contents API (POST /repos/{owner}/{repo}/
// contents), which writes several files in one commit. Each file carries
// the blob SHA that the rewrite was applied to, and Gitea rejects the
// commit when any of them changed, so a concurrent update is never
// overwritten.
type Gitea struct {
	cfg GiteaConfig
	log *slog.Logger
}

var _ Writer = (*Gitea)(nil)

// NewGitea returns a Gitea backend for cfg.
func NewGitea(cfg GiteaConfig) (*Gitea, error) {
	if cfg.URL == "" {
		return nil, fmt.Errorf("new gitea writer: %w: URL is empty", ErrInvalidRequest)
	}
	if err := checkBaseURL("new gitea writer", cfg.URL); err != nil {
		return nil, err
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	return &Gitea{cfg: cfg, log: loggerOrDiscard(cfg.Logger)}, nil
}

// giteaFile is a manifest file as read from the branch tip.
type giteaFile struct {
	content []byte
	// sha is the blob SHA, which the update must name.
	sha string
}

// giteaAttempt is the state that Write keeps between attempts.
type giteaAttempt struct {
	req   Request
	owner string
	repo  string
	// pending holds the message and files of a commit whose outcome is
	// unknown, because the server or the connection failed after the
	// request was sent.
	pending *pendingCommit
}

// pendingCommit is a commit that may have landed.
type pendingCommit struct {
	message string
	files   []string
	changes []manifest.Change
}

// Write applies req to the files at the tip of the branch and commits the
// changed files in one commit, retrying on conflicts.
func (g *Gitea) Write(ctx context.Context, req Request) (Result, error) {
	if err := req.validate(); err != nil {
		return Result{}, fmt.Errorf("write %s: %w", req.Repository, err)
	}
	owner, repo, _ := strings.Cut(req.Repository, "/")
	if strings.Contains(repo, "/") {
		return Result{}, fmt.Errorf("write %s: %w: a Gitea repository is owner/name", req.Repository, ErrInvalidRequest)
	}
	token, err := g.cfg.Credentials.load()
	if err != nil {
		return Result{}, fmt.Errorf("write %s: %w", req.Repository, err)
	}
	ctx, cancel := withRequestTimeout(ctx, req.Timeout)
	defer cancel()

	st := &giteaAttempt{req: req, owner: owner, repo: repo}
	op := fmt.Sprintf("write %s@%s", req.Repository, req.target())
	res, err := retry(ctx, g.cfg.Backoff, g.log, op, func(ctx context.Context, _ int) (Result, error) {
		client, err := g.client(ctx, token)
		if err != nil {
			return Result{}, fmt.Errorf("%s: %w", op, err)
		}
		return g.attempt(ctx, client, st)
	})
	if err != nil {
		return Result{}, err
	}

	if req.PullRequest != nil && res.Changed && res.Branch != req.BaseBranch {
		client, err := g.client(ctx, token)
		if err != nil {
			return res, fmt.Errorf("%s: %w", op, err)
		}
		url, err := g.pullRequest(client, st, res)
		if err != nil {
			return res, err
		}
		res.PullRequestURL = url
	}
	return res, nil
}

// client returns an API client whose requests use ctx. The SDK keeps one
// context per client, so each attempt gets its own.
func (g *Gitea) client(ctx context.Context, token Token) (*gitea.Client, error) {
	c, err := gitea.NewClient(g.cfg.URL,
		gitea.SetToken(token.value),
		gitea.SetHTTPClient(g.cfg.HTTPClient),
		gitea.SetContext(ctx),
		gitea.SetGiteaVersion(""), // skips the version request
	)
	if err != nil {
		return nil, fmt.Errorf("create gitea client for %s: %w", g.cfg.URL, err)
	}
	return c, nil
}

// attempt runs one read, rewrite and commit.
func (g *Gitea) attempt(ctx context.Context, c *gitea.Client, st *giteaAttempt) (Result, error) {
	req := st.req
	target := req.target()
	where := fmt.Sprintf("%s@%s", req.Repository, target)

	// A target branch that exists receives the commit on its own tip,
	// and one that does not is created from the base branch.
	readBranch, newBranch := target, ""
	if target != req.BaseBranch {
		_, resp, err := c.GetRepoBranch(st.owner, st.repo, target)
		switch {
		case statusOf(resp) == http.StatusNotFound:
			readBranch, newBranch = req.BaseBranch, target
		case err != nil:
			return Result{}, g.branchError(c, st, target, resp, err)
		}
	}
	branch, resp, err := c.GetRepoBranch(st.owner, st.repo, readBranch)
	if err != nil {
		return Result{}, g.branchError(c, st, readBranch, resp, err)
	}
	if branch.Commit == nil || branch.Commit.ID == "" {
		return Result{}, fmt.Errorf("read branch %s@%s: the response has no commit", req.Repository, readBranch)
	}
	head := branch.Commit.ID

	files := make(map[string]giteaFile, len(req.Files))
	current := make(map[string][]byte, len(req.Files))
	for _, path := range req.Files {
		f, err := g.readFile(c, st, head, readBranch, path)
		if err != nil {
			return Result{}, err
		}
		files[path] = f
		current[path] = f.content
	}

	rw, err := applyUpdates(req.Files, current, req.Updates)
	if err != nil {
		return Result{}, fmt.Errorf("write %s: %w", where, err)
	}
	if !rw.changed() {
		res, ok, err := st.recover(c, head)
		if err != nil {
			return Result{}, err
		}
		if ok {
			g.log.Info("write-back found its earlier commit after a failed response", "repository", req.Repository, "branch", target, "commit", res.Commit)
			return res, nil
		}
		return Result{Changed: false, Branch: target}, nil
	}

	message, err := messageFor(req, target, rw)
	if err != nil {
		return Result{}, fmt.Errorf("write %s: %w", where, err)
	}
	author, committer := req.signatures()
	opts := gitea.ChangeFilesOptions{
		Message:   message,
		Branch:    readBranch,
		NewBranch: newBranch,
		Author:    gitea.Identity{Name: author.Name, Email: author.Email},
		Committer: gitea.Identity{Name: committer.Name, Email: committer.Email},
	}
	for _, path := range rw.files {
		opts.Files = append(opts.Files, &gitea.ChangeFileOperation{
			Operation: "update",
			Path:      path,
			Content:   base64.StdEncoding.EncodeToString(rw.content[path]),
			SHA:       files[path].sha,
		})
	}
	out, resp, err := c.ChangeFiles(st.owner, st.repo, opts)
	if err != nil {
		cerr := g.commitError(c, st, target, resp, err)
		if errors.Is(cerr, ErrUnavailable) {
			// The commit may have landed before the failure.
			st.pending = &pendingCommit{message: message, files: rw.files, changes: rw.changes}
		}
		return Result{}, cerr
	}
	if out == nil || out.Commit == nil || out.Commit.SHA == "" {
		return Result{}, fmt.Errorf("commit to %s: the response has no commit SHA", where)
	}
	return Result{
		Changed: true,
		Commit:  out.Commit.SHA,
		Branch:  target,
		Changes: rw.changes,
		Files:   rw.files,
	}, nil
}

// readFile reads path at commit head of branch.
func (g *Gitea) readFile(c *gitea.Client, st *giteaAttempt, head, branch, path string) (giteaFile, error) {
	where := fmt.Sprintf("%s@%s", st.req.Repository, branch)
	cr, resp, err := c.GetContents(st.owner, st.repo, head, path)
	if statusOf(resp) == http.StatusNotFound {
		return giteaFile{}, fmt.Errorf("read %s in %s: %w", path, where, ErrFileNotFound)
	}
	if err != nil && statusOf(resp) == http.StatusOK {
		// GetContents (Gitea SDK v0.25) fails on the listing that the
		// API returns for a directory.
		return giteaFile{}, fmt.Errorf("read %s in %s: %w: it is a directory", path, where, ErrFileNotFound)
	}
	if err != nil {
		return giteaFile{}, classifyHTTP(fmt.Sprintf("read %s in %s", path, where), resp, err)
	}
	if cr.Type == "dir" {
		return giteaFile{}, fmt.Errorf("read %s in %s: %w: it is a directory", path, where, ErrFileNotFound)
	}
	if cr.Type != "file" {
		return giteaFile{}, fmt.Errorf("read %s in %s: %w: it is a %s", path, where, ErrFileNotFound, cr.Type)
	}
	if cr.Content == nil {
		return giteaFile{}, fmt.Errorf("read %s in %s: the response has no content", path, where)
	}
	if cr.Encoding != nil && *cr.Encoding != "base64" {
		return giteaFile{}, fmt.Errorf("read %s in %s: unsupported content encoding %q", path, where, *cr.Encoding)
	}
	data, err := base64.StdEncoding.DecodeString(*cr.Content)
	if err != nil {
		return giteaFile{}, fmt.Errorf("read %s in %s: decode content: %w", path, where, err)
	}
	return giteaFile{content: data, sha: cr.SHA}, nil
}

// recover reports the pending commit as this Write's result when it is on
// the branch: a commit among the latest ones at head that touch the
// pending files has the pending message. head is the branch tip that this
// attempt read.
func (st *giteaAttempt) recover(c *gitea.Client, head string) (Result, bool, error) {
	p := st.pending
	if p == nil || len(p.files) == 0 {
		return Result{}, false, nil
	}
	commits, resp, err := c.ListRepoCommits(st.owner, st.repo, gitea.ListCommitOptions{
		ListOptions: gitea.ListOptions{PageSize: pendingSearchDepth},
		SHA:         head,
		Path:        p.files[0],
	})
	if err != nil {
		return Result{}, false, classifyHTTP(fmt.Sprintf("list commits of %s in %s", p.files[0], st.req.Repository), resp, err)
	}
	for _, commit := range commits {
		if commit.CommitMeta == nil || commit.RepoCommit == nil {
			continue
		}
		if strings.TrimRight(commit.RepoCommit.Message, "\n") == strings.TrimRight(p.message, "\n") {
			return Result{Changed: true, Commit: commit.SHA, Branch: st.req.target(), Files: p.files, Changes: p.changes}, true, nil
		}
	}
	return Result{}, false, nil
}

// branchError explains a failed branch read: a missing repository, a
// missing branch, or a failure that classifyHTTP handles.
func (g *Gitea) branchError(c *gitea.Client, st *giteaAttempt, branch string, resp *gitea.Response, err error) error {
	op := fmt.Sprintf("read branch %s@%s", st.req.Repository, branch)
	if statusOf(resp) != http.StatusNotFound {
		return classifyHTTP(op, resp, err)
	}
	_, rresp, rerr := c.GetRepo(st.owner, st.repo)
	switch {
	case statusOf(rresp) == http.StatusNotFound:
		return fmt.Errorf("%s: %w (or the token cannot read it)", op, ErrRepositoryNotFound)
	case rerr != nil:
		return classifyHTTP(op, rresp, rerr)
	}
	return fmt.Errorf("%s: %w", op, ErrBranchNotFound)
}

// commitError classifies a failed ChangeFiles request. Gitea 1.27 reports
// each of these conflicts with its own status:
//   - 422 "sha does not match": a file changed since it was read;
//   - 403 "cannot lock ref": a concurrent update of the same branch;
//   - 500 "PushOutOfDate": the branch moved during the commit;
//   - 422 "branch already exists": another bump created the target first.
func (g *Gitea) commitError(c *gitea.Client, st *giteaAttempt, branch string, resp *gitea.Response, err error) error {
	op := fmt.Sprintf("commit to %s@%s", st.req.Repository, branch)
	msg := strings.ToLower(err.Error())
	status := statusOf(resp)
	switch {
	case status == http.StatusUnprocessableEntity && (strings.Contains(msg, "sha does not match") ||
		strings.Contains(msg, "already exists") || strings.Contains(msg, "does not match")):
		return fmt.Errorf("%s: %w: %w", op, ErrConflict, err)
	case (status == http.StatusForbidden || status >= 500) && pushConflict(msg):
		return fmt.Errorf("%s: %w: %w", op, ErrConflict, err)
	case status == http.StatusForbidden:
		if strings.Contains(msg, "protected") || strings.Contains(msg, "hook declined") {
			return fmt.Errorf("%s: %w: %w", op, ErrProtectedBranch, err)
		}
		// Gitea returns "user should have a permission to write to the
		// target branch" for both a missing write permission and a
		// protected branch, so the branch's protection flag decides.
		if b, _, berr := c.GetRepoBranch(st.owner, st.repo, branch); berr == nil && b.Protected && !b.UserCanPush {
			return fmt.Errorf("%s: %w: %w", op, ErrProtectedBranch, err)
		}
		return fmt.Errorf("%s: %w: %w", op, ErrPermission, err)
	}
	return classifyHTTP(op, resp, err)
}

// pushConflict reports whether a git push error message means that the
// branch moved: receive-pack's ref-lock and stale-ref failures.
func pushConflict(msg string) bool {
	for _, s := range []string{"cannot lock ref", "failed to lock", "failed to update ref", "stale info",
		"non-fast-forward", "fetch first", "pushoutofdate"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// classifyHTTP wraps the sentinel that matches an API failure: no
// response after a network failure, or a 5xx, is ErrUnavailable, 401 and 403 are ErrPermission, 404
// is ErrRepositoryNotFound, and 409 is ErrConflict.
func classifyHTTP(op string, resp *gitea.Response, err error) error {
	status := statusOf(resp)
	switch {
	case status == 0:
		if errors.Is(err, context.Canceled) || !networkFailure(err) {
			return fmt.Errorf("%s: %w", op, err)
		}
		// A deadline here is usually Backoff.AttemptTimeout, and retry
		// stops by itself when the Write's own deadline has passed.
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	case status >= 500:
		return fmt.Errorf("%s: %w: HTTP %d: %w", op, ErrUnavailable, status, err)
	case status == http.StatusUnauthorized:
		return fmt.Errorf("%s: %w: the token is missing, invalid or expired: %w", op, ErrPermission, err)
	case status == http.StatusForbidden:
		return fmt.Errorf("%s: %w: %w", op, ErrPermission, err)
	case status == http.StatusNotFound:
		return fmt.Errorf("%s: %w (or the token cannot read it): %w", op, ErrRepositoryNotFound, err)
	case status == http.StatusConflict:
		return fmt.Errorf("%s: %w: %w", op, ErrConflict, err)
	case status == http.StatusLocked:
		return fmt.Errorf("%s: %w: the repository is archived: %w", op, ErrPermission, err)
	}
	return fmt.Errorf("%s: HTTP %d: %w", op, status, err)
}

// pullRequest returns the web address of the open pull request from the
// result's branch into the base branch, creating it when there is none.
func (g *Gitea) pullRequest(c *gitea.Client, st *giteaAttempt, res Result) (string, error) {
	req := st.req
	op := fmt.Sprintf("open pull request %s into %s in %s", res.Branch, req.BaseBranch, req.Repository)
	if pr, resp, err := c.GetPullRequestByBaseHead(st.owner, st.repo, req.BaseBranch, res.Branch); err == nil && pr != nil && pr.State == gitea.StateOpen {
		return pr.HTMLURL, nil
	} else if err != nil && statusOf(resp) != http.StatusNotFound {
		return "", classifyHTTP(op, resp, err)
	}

	message, err := renderMessage(req, MessageData{
		Repository: req.Repository, Branch: res.Branch, Updates: req.Updates,
		Changes: res.Changes, Files: res.Files, RunURL: req.RunURL,
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}

	subject, body := subjectAndBody(message)
	opt := gitea.CreatePullRequestOption{Head: res.Branch, Base: req.BaseBranch, Title: subject, Body: body}
	if req.PullRequest.Title != "" {
		opt.Title = req.PullRequest.Title
	}
	if req.PullRequest.Body != "" {
		opt.Body = req.PullRequest.Body
	}

	pr, resp, err := c.CreatePullRequest(st.owner, st.repo, opt)
	if statusOf(resp) == http.StatusConflict {
		// A concurrent bump opened it first.
		pr, resp, err = c.GetPullRequestByBaseHead(st.owner, st.repo, req.BaseBranch, res.Branch)
	}
	if err != nil {
		return "", classifyHTTP(op, resp, err)
	}
	return pr.HTMLURL, nil
}

func statusOf(resp *gitea.Response) int {
	if resp == nil || resp.Response == nil {
		return 0
	}
	return resp.StatusCode
}

func loggerOrDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// withRequestTimeout bounds ctx by the Request's timeout.
func withRequestTimeout(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return context.WithTimeout(ctx, timeout)
}
