package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// runLog is the record of one job run, read from act's --json log.
type runLog struct {
	// Outputs are the step outputs of the step whose id is the step
	// argument of readRunLog, from GITHUB_OUTPUT.
	Outputs map[string]string `json:"outputs"`
	// Summary is the job summary, from GITHUB_STEP_SUMMARY.
	Summary string `json:"summary"`
	// JobResult is "success" or "failure"; empty when act logged none.
	JobResult string `json:"jobResult"`
	// Steps maps each step name to its result, such as "success".
	Steps map[string]string `json:"steps"`
	// Errors are the ::error:: messages and act's own error lines.
	Errors []string `json:"errors,omitempty"`
}

// actEntry is the subset of one line of `act --json` that runLog uses.
// act v0.2.89 logs step outputs with command "set-output" (pkg/runner/
// command.go) and the summary with command "summary" (pkg/runner/step.go).
type actEntry struct {
	Level      string   `json:"level"`
	Msg        string   `json:"msg"`
	Command    string   `json:"command"`
	Name       string   `json:"name"`
	Arg        string   `json:"arg"`
	Content    string   `json:"content"`
	Step       string   `json:"step"`
	StepID     []string `json:"stepID"`
	StepResult string   `json:"stepResult"`
	JobResult  string   `json:"jobResult"`
}

// secretLines returns the numbers of the lines of act's --json log that
// contain secret. act v0.2.89 writes the value of an ::add-mask:: command
// into the arg and raw fields of its log entry, while its text output
// shows "***" (pkg/runner/command.go), so those entries are left out.
func secretLines(log []byte, secret string) []int {
	var lines []int
	for i, line := range bytes.Split(log, []byte("\n")) {
		if !bytes.Contains(line, []byte(secret)) {
			continue
		}
		var e actEntry
		if json.Unmarshal(line, &e) == nil && e.Command == "add-mask" && !strings.Contains(e.Msg, secret) {
			continue
		}
		lines = append(lines, i+1)
	}
	return lines
}

// readRunLog parses act's --json log. Lines that are not JSON objects,
// such as a step's raw output, are skipped.
func readRunLog(r io.Reader, step string) (runLog, error) {
	out := runLog{Outputs: map[string]string{}, Steps: map[string]string{}}
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for scanner.Scan() {
		line := scanner.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var e actEntry
		if err := json.Unmarshal(line, &e); err != nil {
			continue
		}
		switch {
		case e.Command == "set-output" && len(e.StepID) > 0 && e.StepID[0] == step:
			out.Outputs[e.Name] = e.Arg
		case e.Command == "summary":
			out.Summary += e.Content
		case e.JobResult != "":
			out.JobResult = e.JobResult
		case e.StepResult != "":
			out.Steps[strings.TrimSpace(e.Step)] = e.StepResult
		}
		if e.Level == "error" || e.Level == "fatal" {
			out.Errors = append(out.Errors, e.Msg)
		} else if _, msg, ok := strings.Cut(e.Msg, "::error::"); ok {
			out.Errors = append(out.Errors, strings.TrimSpace(msg))
		}
	}
	if err := scanner.Err(); err != nil {
		return out, fmt.Errorf("read act log: %w", err)
	}
	return out, nil
}
