package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestEditLineLabelsLiteral(t *testing.T) {
	text := "package main\n\nvar usage = \"print the version\"\n"
	got, err := editLine(text, `"print the version`, "cold 1")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got, "package main\n\nvar usage = \"print the version [cold 1]\"\n"))

	again, err := editLine(got, `"print the version`, "warm 1")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(again, "package main\n\nvar usage = \"print the version [warm 1]\"\n"))
}

func TestEditLineRejectsMissingOrRepeated(t *testing.T) {
	_, err := editLine("a\nb\n", `"x`, "l")
	assert.Check(t, is.ErrorContains(err, "no line contains"))

	_, err = editLine("\"x\n\"x\n", `"x`, "l")
	assert.Check(t, is.ErrorContains(err, "lines 1 and 2"))
}

func TestReadProgressSpans(t *testing.T) {
	log := "1   : connect DONE [0.1s]\n" +
		"5   : \x1b[90mload module: /tmp/m\x1b[0m\n" +
		"5   : load module: /tmp/m\x1b[32m DONE\x1b[0m\x1b[90m [0.6s]\x1b[0m\n" +
		"10  : parsing command line arguments DONE [1.3s]\n" +
		"14  : Incluster.buildAndPush DONE [5m36s]\n" +
		"59  : InclusterRelease.report DONE [450ms]\n"
	file := filepath.Join(t.TempDir(), "call.log")
	assert.NilError(t, os.WriteFile(file, []byte(log), 0o644))

	got := readProgress(file)
	assert.Check(t, is.Equal(got.ModuleLoad, 600*time.Millisecond))
	assert.Check(t, is.Equal(got.Arguments, 1300*time.Millisecond))
	assert.Check(t, is.Equal(got.Function, 5*time.Minute+36*time.Second))
	assert.Check(t, is.Equal(got.Report, 450*time.Millisecond))
}

func TestSizeAndSeconds(t *testing.T) {
	assert.Check(t, is.Equal(size(999), "999 B"))
	assert.Check(t, is.Equal(size(17_070_000), "17.07 MB"))
	assert.Check(t, is.Equal(seconds(0), "–"))
	assert.Check(t, is.Equal(seconds(1234*time.Millisecond), "1.23 s"))
	assert.Check(t, is.Equal(seconds(183*time.Second), "183.0 s"))
}
