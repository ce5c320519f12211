package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// pollInterval is the observer's interval between requests to the
// registry and to Gitea, and so the resolution of the times it reports.
const pollInterval = 50 * time.Millisecond

// visibility is when, after a run's start, its image and its commit
// became visible. Zero means never, within the observation.
type visibility struct {
	push   time.Duration
	commit time.Duration
}

// observe polls, until ctx ends, the registry for the tag and then the
// manifest repository's branch for a head other than before, from the
// host, as a user would see them. It sends the result once when both
// showed or ctx ended.
func (b *bencher) observe(ctx context.Context, start time.Time, repo manifestRepo, tag, before string) <-chan visibility {
	result := make(chan visibility, 1)
	go func() {
		var v visibility
		defer func() { result <- v }()
		ref, err := name.NewTag(b.env.Registry+"/"+b.env.GiteaUser+"/"+repo.app+":"+tag, name.Insecure)
		if err != nil {
			b.log.Warn("observe the registry", "err", err)
			return
		}
		// The puller keeps the registry token across requests, so a poll
		// is one HEAD request.
		puller, err := remote.NewPuller(remote.WithContext(ctx),
			remote.WithAuth(&authn.Basic{Username: b.env.GiteaUser, Password: b.env.token}))
		if err != nil {
			b.log.Warn("observe the registry", "err", err)
			return
		}
		tick := time.NewTicker(pollInterval)
		defer tick.Stop()
		for v.push == 0 {
			if _, err := puller.Head(ctx, ref); err == nil {
				v.push = time.Since(start)
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
		for v.commit == 0 {
			if head, err := b.gitea.branchHead(repo.owner, repo.name); err == nil && head != before {
				v.commit = time.Since(start)
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return result
}

// memoryPeaks are the highest resident set sizes seen during a run, in
// bytes.
type memoryPeaks struct {
	// Engine is the engine process's peak RSS, sampled.
	Engine int64 `json:"engine"`
	// Function is the peak RSS (VmHWM) of the module's function process,
	// the Go SDK's /runtime, of this call. The engine starts one per
	// function call.
	Function int64 `json:"function"`
	// EngineCPU is the CPU time the engine process used during the run.
	EngineCPU time.Duration `json:"engineCPU"`
	// Samples is how many times the sampler read /proc.
	Samples int `json:"samples"`
}

// sampleInterval is how often the memory sampler reads /proc. The engine
// figure is a sampled maximum; the function figure is the kernel's
// high-water mark, read until the process ends.
const sampleInterval = 200 * time.Millisecond

// startMemorySampler reads the engine's RSS and the function processes'
// peak RSS until ctx ends, then sends the peaks. Function processes are
// the processes named "runtime" whose TRACEPARENT has traceID.
func startMemorySampler(ctx context.Context, enginePID int, traceID string) <-chan memoryPeaks {
	result := make(chan memoryPeaks, 1)
	go func() {
		var peaks memoryPeaks
		cpuStart := processCPU(enginePID)
		// ours caches whether a PID is a function process of this call.
		ours := map[int]bool{}
		tick := time.NewTicker(sampleInterval)
		defer tick.Stop()
		for {
			peaks.Samples++
			if rss := statusBytes(enginePID, "VmRSS"); rss > peaks.Engine {
				peaks.Engine = rss
			}
			for _, pid := range processesNamed("runtime") {
				mine, seen := ours[pid]
				if !seen {
					mine = hasTraceID(pid, traceID)
					ours[pid] = mine
				}
				if !mine {
					continue
				}
				if hwm := statusBytes(pid, "VmHWM"); hwm > peaks.Function {
					peaks.Function = hwm
				}
			}
			select {
			case <-ctx.Done():
				peaks.EngineCPU = processCPU(enginePID) - cpuStart
				result <- peaks
				return
			case <-tick.C:
			}
		}
	}()
	return result
}

// statusBytes returns a "kB" field of /proc/PID/status in bytes, 0 when
// the process is gone.
func statusBytes(pid int, field string) int64 {
	v := procField(fmt.Sprintf("/proc/%d/status", pid), field)
	kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	if err != nil {
		return 0
	}
	return kb * 1024
}

// processCPU returns the user and system CPU time of a process so far.
func processCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command, which is in brackets and may hold
	// spaces; utime and stime are fields 14 and 15 of the whole line.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	// USER_HZ is 100 on Linux for every architecture Go supports.
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// processesNamed returns the PIDs whose command name is comm.
func processesNamed(comm string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err == nil && strings.TrimSpace(string(data)) == comm {
			pids = append(pids, pid)
		}
	}
	return pids
}

// hasTraceID reports whether the process's TRACEPARENT variable carries
// traceID.
func hasTraceID(pid int, traceID string) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("TRACEPARENT=00-")); ok {
			return bytes.HasPrefix(v, []byte(traceID+"-"))
		}
	}
	return false
}
