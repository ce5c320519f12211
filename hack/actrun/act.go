package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// runnerLabel is the runs-on label of the workflow's job, which act maps
// to host mode.
const runnerLabel = "incluster"

// traceScript brings up the loopback interface of the new network
// namespace and runs act under strace. strace records the calls that can
// open a connection ($0 is the strace log) and exits with act's status.
const traceScript = `ip link set lo up && exec strace -f -qq --seccomp-bpf -yy -e trace=connect,sendto,sendmsg -o "$0" "$@"`

// runAct runs the workflow once and writes act.log and strace.log into
// cfg.logs. It returns an error when act fails or times out.
func runAct(ctx context.Context, cfg config, repo string) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()

	// act reads .secrets, .vars, .env and .input from the current folder
	// unless flags name other files, so an empty file replaces each.
	empty := filepath.Join(cfg.logs, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		return fmt.Errorf("write empty file: %w", err)
	}
	event := filepath.Join(cfg.logs, "event.json")
	if err := os.WriteFile(event, []byte(`{"ref": "refs/heads/main"}`+"\n"), 0o600); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	// A Secret mounted from a literal holds the token without a line
	// break, while the stack's token file ends with one.
	tokenFile := filepath.Join(cfg.logs, "token")
	if err := os.WriteFile(tokenFile, []byte(cfg.stack.token), 0o600); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(cfg.logs, "act.log"), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create act log: %w", err)
	}
	defer logFile.Close()

	s := cfg.stack
	// The engine resolves Gitea's cluster name from its own network
	// namespace.
	vars := map[string]string{
		"INCLUSTER_RUNNER_SCALE_SET": runnerLabel,
		"INCLUSTER_MODULE":           cfg.module,
		"INCLUSTER_GITEA_URL":        "http://" + s.clusterGitea,
		"INCLUSTER_REGISTRY":         s.clusterGitea,
		"INCLUSTER_OWNER":            s.user,
		"INCLUSTER_APP":              repo,
		"INCLUSTER_USERNAME":         s.user,
		"INCLUSTER_MANIFEST_REPO":    s.user + "/" + repo,
		"INCLUSTER_MANIFEST_PATH":    manifestPath,
		"INCLUSTER_GO_IMAGE":         s.goImage,
		"INCLUSTER_BASE_IMAGE":       s.baseImage,
		"INCLUSTER_GOPROXY":          s.clusterGoProxy,
	}
	args := []string{
		"push",
		"--workflows", cfg.workflow,
		"--directory", cfg.source,
		"--platform", runnerLabel + "=-self-hosted",
		"--eventpath", event,
		"--json",
		"--no-cache-server",
		"--action-offline-mode",
		"--action-cache-path", filepath.Join(cfg.logs, "act-cache"),
		"--secret-file", empty,
		"--var-file", empty,
		"--env-file", empty,
		"--input-file", empty,
	}
	for name, value := range vars {
		args = append(args, "--var", name+"="+value)
	}

	cmdArgs := append([]string{"--net", "--", "sh", "-c", traceScript, filepath.Join(cfg.logs, "strace.log"), cfg.act}, args...)
	cmd := exec.CommandContext(ctx, "unshare", cmdArgs...)
	cmd.Dir = cfg.source
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// The token reaches the job as a file, as the runner pods mount it, so
	// the run takes the workflow's INCLUSTER_TOKEN_FILE branch.
	cmd.Env = append(os.Environ(),
		"ACT_DISABLE_VERSION_CHECK=1",
		"DO_NOT_TRACK=1",
		"GITEA_TOKEN=",
		"INCLUSTER_TOKEN_FILE="+tokenFile,
		"PATH="+filepath.Dir(s.dagger)+string(os.PathListSeparator)+os.Getenv("PATH"),
	)
	// act starts the Dagger CLI and shells: a timeout ends the whole
	// process group that this command leads.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second

	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("act run of %s timed out after %s: %w", cfg.workflow, cfg.timeout, err)
		}
		return fmt.Errorf("act run of %s failed: %w", cfg.workflow, err)
	}
	return nil
}
