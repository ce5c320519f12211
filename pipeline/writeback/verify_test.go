package writeback

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/incluster/incluster/pipeline/manifest"
)

// manyImagesDeployment returns a Deployment with n containers whose
// images are registry.example/team/img0:v1 to img{n-1}:v1.
func manyImagesDeployment(n int) string {
	var b strings.Builder
	b.WriteString("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n")
	for i := range n {
		fmt.Fprintf(&b, "        - name: c%d\n          image: %s:v1\n", i, imageName(i))
	}
	return b.String()
}

func imageName(i int) string { return fmt.Sprintf("registry.example/team/img%d", i) }

// checkCommitMatchesChanges checks that commit changed exactly files, and
// that applying the reported changes to each file's content in the parent
// commit gives its content in commit. dir is a git repository that
// contains commit.
func checkCommitMatchesChanges(t *testing.T, dir, commit string, files []string, changes []manifest.Change) {
	t.Helper()
	changed := strings.Fields(runGit(t, dir, "diff", "--name-only", "--no-renames", commit+"~1", commit))
	sort.Strings(changed)
	want := append([]string(nil), files...)
	sort.Strings(want)
	assert.Check(t, is.DeepEqual(changed, want), "files changed by commit %s", commit)

	byFile := make(map[string][]manifest.Change)
	for _, c := range changes {
		byFile[c.File] = append(byFile[c.File], c)
	}
	for _, file := range files {
		before := runGit(t, dir, "show", commit+"~1:"+file)
		after := runGit(t, dir, "show", commit+":"+file)
		applied, err := manifest.Apply([]byte(before), byFile[file])
		if assert.Check(t, err, "apply the reported changes of %s to %s", commit, file) {
			assert.Check(t, is.Equal(string(applied), after), "commit %s, %s: the content differs from the parent with the reported changes applied", commit, file)
		}
		delete(byFile, file)
	}
	assert.Check(t, is.Len(byFile, 0), "commit %s: changes reported for files it did not change", commit)
}

// bumpOutcome is what one concurrent bump returned.
type bumpOutcome struct {
	result Result
	err    error
}

// checkConcurrentBumps checks branch in the repository at dir after
// concurrent bumps from commit base, each of which changed a different
// image to newTag in file. Every bump must have succeeded and changed
// something. The history must have exactly one commit per bump, with the
// bump's reported changes as its diff, and the file must contain every
// change.
func checkConcurrentBumps(t *testing.T, dir, branch, base, file string, outcomes []bumpOutcome, newTag string) {
	t.Helper()
	history := strings.Fields(runGit(t, dir, "rev-list", "--first-parent", base+".."+branch))
	assert.Check(t, is.Len(history, len(outcomes)), "commits on %s since %s", branch, base)
	inHistory := make(map[string]bool, len(history))
	for _, c := range history {
		inHistory[c] = true
	}
	seen := make(map[string]int)
	for i, o := range outcomes {
		if !assert.Check(t, o.err, "bump %d failed", i) {
			continue
		}
		assert.Check(t, o.result.Changed, "bump %d changed nothing", i)
		assert.Check(t, inHistory[o.result.Commit], "bump %d reported commit %s, which is not on %s", i, o.result.Commit, branch)
		if prev, dup := seen[o.result.Commit]; dup {
			t.Errorf("bumps %d and %d report the same commit %s", prev, i, o.result.Commit)
		}
		seen[o.result.Commit] = i
		if inHistory[o.result.Commit] {
			checkCommitMatchesChanges(t, dir, o.result.Commit, o.result.Files, o.result.Changes)
		}
	}
	content := runGit(t, dir, "show", branch+":"+file)
	for i := range outcomes {
		assert.Check(t, is.Contains(content, imageName(i)+":"+newTag), "change of bump %d is missing from %s", i, file)
	}
}

// readGoldenArgs reads a key=value file, one pair a line.
func readGoldenArgs(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	assert.NilError(t, err)
	args := make(map[string]string)
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			args[k] = v
		}
	}
	return args
}

// goldenFile returns the file name of a golden case: its file= argument,
// or manifest.yaml.
func goldenFile(args map[string]string) string {
	if f := args["file"]; f != "" {
		return f
	}
	return "manifest.yaml"
}
