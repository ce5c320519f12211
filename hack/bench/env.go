package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// stackEnv holds what hack/stack env exports.
type stackEnv struct {
	GiteaURL       string
	GiteaUser      string
	token          string
	Registry       string
	ClusterGitea   string
	ClusterGoProxy string
	GoImage        string
	BaseImage      string
	EngineHost     string
	Dagger         string
	State          string
}

func readStackEnv() (stackEnv, error) {
	var missing []string
	need := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			missing = append(missing, name)
		}
		return v
	}
	env := stackEnv{
		GiteaURL:       need("INCLUSTER_GITEA_URL"),
		GiteaUser:      need("INCLUSTER_GITEA_USER"),
		Registry:       need("INCLUSTER_REGISTRY"),
		ClusterGitea:   need("INCLUSTER_CLUSTER_GITEA"),
		ClusterGoProxy: need("INCLUSTER_CLUSTER_GOPROXY"),
		GoImage:        need("INCLUSTER_GO_IMAGE"),
		BaseImage:      need("INCLUSTER_BASE_IMAGE"),
		EngineHost:     need("_EXPERIMENTAL_DAGGER_RUNNER_HOST"),
		Dagger:         need("INCLUSTER_DAGGER"),
		State:          need("INCLUSTER_STATE"),
	}
	tokenFile := need("INCLUSTER_GITEA_TOKEN_FILE")
	if len(missing) > 0 {
		return env, fmt.Errorf("%s not set: start the stack (hack/stack up) and run eval \"$(hack/stack env)\"", strings.Join(missing, ", "))
	}
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		return env, fmt.Errorf("read the Gitea token: %w", err)
	}
	env.token = strings.TrimSpace(string(token))
	return env, nil
}

// enginePID returns the process ID of the stack's Dagger engine.
func (e stackEnv) enginePID() (int, error) {
	file := filepath.Join(e.State, "engine.pid")
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("read the engine's PID: %w", err)
	}
	// The file has the PID on its first line and the start time on the
	// second (hack/lib/common.sh).
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0, fmt.Errorf("read the engine's PID from %s: %w", file, err)
	}
	return pid, nil
}

// machine describes where a benchmark ran.
type machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpuModel"`
	// Load is /proc/loadavg's 1, 5 and 15 minute averages at the start.
	Load         string `json:"load"`
	MemoryMB     int    `json:"memoryMB"`
	Kernel       string `json:"kernel"`
	Go           string `json:"go"`
	Dagger       string `json:"dagger"`
	Gitea        string `json:"gitea"`
	GoImage      string `json:"goImage"`
	BaseImage    string `json:"baseImage"`
	StartedAtUTC string `json:"startedAtUTC"`
}

func describeMachine(ctx context.Context, env stackEnv) machine {
	m := machine{
		CPUs: runtime.NumCPU(), Go: runtime.Version(), GoImage: env.GoImage, BaseImage: env.BaseImage,
		StartedAtUTC: time.Now().UTC().Format(time.RFC3339),
	}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.Atoi(strings.Fields(procField("/proc/meminfo", "MemTotal") + " 0")[0]); err == nil {
		m.MemoryMB = kb / 1024
	}
	m.Load = loadAverage()
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	// dagger version prints "dagger v0.19.2 (ENGINE ADDRESS) linux/amd64".
	if out, err := exec.CommandContext(ctx, env.Dagger, "version").Output(); err == nil {
		if fields := strings.Fields(string(out)); len(fields) >= 2 {
			m.Dagger = fields[1]
		}
	}
	return m
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	fields := strings.Fields(string(data))
	if len(fields) < 3 {
		return ""
	}
	return strings.Join(fields[:3], " ")
}

// procField returns the value of the first line "key: value" of a file
// such as /proc/cpuinfo, empty when there is none.
func procField(file, key string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
