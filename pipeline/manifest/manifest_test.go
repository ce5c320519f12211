package manifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	"gotest.tools/v3/golden"
)

func init() {
	// Golden files are compared byte for byte: CRLF cases must keep CRLF.
	golden.NormalizeCRLFToLF = false
}

// TestRewriteGolden runs every testdata/<case>. The file input is the
// input, and args names the update (image=, tag=, digest=, file=). The files
// want and changes contain the expected output and changes, or the file
// error contains the expected error message. Run with -update to rewrite
// the expected files, then review the diff.
func TestRewriteGolden(t *testing.T) {
	entries, err := os.ReadDir("testdata")
	assert.NilError(t, err)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) { runGoldenCase(t, e.Name()) })
	}
}

func runGoldenCase(t *testing.T, name string) {
	dir := filepath.Join("testdata", name)
	input, err := os.ReadFile(filepath.Join(dir, "input"))
	assert.NilError(t, err)
	file, u := readArgs(t, filepath.Join(dir, "args"))

	out, changes, err := Rewrite(file, input, u)
	if _, statErr := os.Stat(filepath.Join(dir, "error")); statErr == nil {
		assert.Assert(t, err != nil, "expected an error")
		golden.Assert(t, err.Error()+"\n", filepath.Join(name, "error"))
		assert.Assert(t, out == nil, "output on error")
		assert.Assert(t, changes == nil, "changes on error")
		return
	}
	assert.NilError(t, err)
	golden.Assert(t, string(out), filepath.Join(name, "want"))
	golden.Assert(t, formatChanges(changes), filepath.Join(name, "changes"))
	checkChanges(t, input, out, changes)

	again, more, err := Rewrite(file, out, u)
	assert.NilError(t, err, "second run")
	assert.Equal(t, len(more), 0, "second run changes: %v", more)
	assert.Equal(t, string(again), string(out), "second run output")
}

func readArgs(t *testing.T, path string) (string, Update) {
	t.Helper()
	data, err := os.ReadFile(path)
	assert.NilError(t, err)
	file, u, err := parseArgs(string(data))
	assert.NilError(t, err, path)
	return file, u
}

func formatChanges(changes []Change) string {
	var b strings.Builder
	for _, c := range changes {
		fmt.Fprintf(&b, "%s doc=%d kind=%s name=%s path=%s line=%d offset=%d old=%q new=%q\n",
			c.File, c.Document, c.Kind, c.Name, c.Path, c.Line, c.Offset, c.Old, c.New)
	}
	return b.String()
}

// checkChanges asserts that the output equals the input outside the
// reported byte ranges and that each range contains the reported bytes.
func checkChanges(t *testing.T, input, out []byte, changes []Change) {
	t.Helper()
	last := 0
	for _, c := range changes {
		assert.Assert(t, c.Offset >= last, "change at %d overlaps or is out of order", c.Offset)
		assert.Equal(t, string(input[c.Offset:c.Offset+len(c.Old)]), c.Old, "old bytes at %d", c.Offset)
		last = c.Offset + len(c.Old)
	}
	applied, err := Apply(input, changes)
	assert.NilError(t, err)
	assert.Equal(t, string(applied), string(out))
}

func TestRewriteNoMatchSentinel(t *testing.T) {
	_, _, err := Rewrite("a.yaml", []byte("image: nginx:1\n"), Update{Image: "redis", Tag: "2"})
	assert.Assert(t, errors.Is(err, ErrNoMatch), "got %v", err)
}
