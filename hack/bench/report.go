package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/incluster/incluster/pipeline/registry"
)

// benchResults is everything one benchmark run measured.
type benchResults struct {
	Run     string  `json:"run"`
	Machine machine `json:"machine"`
	// ModuleLoad is the untimed first call that loads the Dagger module.
	ModuleLoad time.Duration  `json:"moduleLoad"`
	Targets    []targetResult `json:"targets"`
}

func writeJSON(w io.Writer, res benchResults) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// table is a two-column Markdown table.
type table struct {
	title string
	rows  [][2]string
}

func (t *table) add(name, value string) { t.rows = append(t.rows, [2]string{name, value}) }

func (t *table) write(w io.Writer) {
	fmt.Fprintf(w, "### %s\n\n| measure | value |\n| --- | ---: |\n", t.title)
	for _, r := range t.rows {
		fmt.Fprintf(w, "| %s | %s |\n", r[0], r[1])
	}
	fmt.Fprintln(w)
}

// stepOrder is the order in which build-and-push runs its steps.
var stepOrder = []string{"test", "tag", "build", "image", "publish", "bump"}

func writeTargetTables(w io.Writer, res targetResult) {
	for _, run := range res.Runs {
		runTable(res, run).write(w)
	}
	baselineTable(res).write(w)
}

func runTable(res targetResult, run pipelineRun) *table {
	t := &table{title: fmt.Sprintf("%s, %s run (%s)", res.Target, run.Name, run.Tag)}
	t.add("total, dagger call", seconds(run.Total))
	t.add("outside the steps: CLI, session, module, result", seconds(run.Outside))
	sp := run.Spans
	inFunction := max(sp.Function-run.stepsTotal(), 0)
	t.add("- load module", seconds(sp.ModuleLoad))
	t.add("- parse arguments, upload the source", seconds(sp.Arguments))
	t.add("- function call outside the steps", seconds(inFunction))
	t.add("- report function call", seconds(sp.Report))
	// The progress output rounds to 0.1 s, so the rest can come out
	// slightly negative.
	rest := max(run.Outside-sp.ModuleLoad-sp.Arguments-inFunction-sp.Report, 0)
	t.add("- rest: CLI start, connect, export the report", seconds(rest))
	for _, name := range stepOrder {
		t.add("step "+name, seconds(run.step(name)))
	}
	t.add("push visible to commit visible (Gitea API)", seconds(run.PushToCommit))
	uploaded := 0
	for _, b := range run.Blobs {
		if b.Uploaded {
			uploaded++
		}
	}
	t.add("bytes uploaded", fmt.Sprintf("%s (%d of %d blobs)", size(run.BytesUploaded()), uploaded, len(run.Blobs)))
	for _, b := range run.Blobs {
		t.add(fmt.Sprintf("- %s %s, %s", blobKind(b), shortDigest(b.Digest), size(b.Size)), size(b.BytesUploaded))
	}
	t.add("engine peak RSS (sampled)", size(run.Memory.Engine))
	t.add("engine CPU time", seconds(run.Memory.EngineCPU))
	t.add("function peak RSS", size(run.Memory.Function))
	t.add("load average at the end", run.Load)
	return t
}

func baselineTable(res targetResult) *table {
	bl := res.Baseline
	warm := res.warm()
	t := &table{title: res.Target + ", baseline and image"}
	t.add("host go build, warm cache, after the change", seconds(bl.GoBuild))
	t.add("go-containerregistry push of the binary layer", fmt.Sprintf("%s (%s)", seconds(bl.Push), size(bl.PushBytes)))
	t.add("Gitea contents API: read and commit", seconds(bl.Commit))
	t.add("**baseline total**", "**"+seconds(bl.Total())+"**")
	t.add("**warm total / baseline**", fmt.Sprintf("**%.1f**", res.Ratio()))
	t.add("warm total without the test step / baseline", fmt.Sprintf("%.1f", res.RatioWithoutTest()))
	t.add("warm bytes uploaded / baseline bytes", fmt.Sprintf("%.2f", float64(warm.BytesUploaded())/float64(max(bl.PushBytes, 1))))
	im := res.Image
	t.add("image, compressed", fmt.Sprintf("%s in %d layers", size(im.Image), im.Layers))
	t.add("base image, compressed", fmt.Sprintf("%s in %d layers", size(im.Base), im.BaseLayers))
	t.add("binary in the image / its layer, compressed", size(im.Binary)+" / "+size(im.BinaryLayer))
	t.add("host-built binary", size(bl.BinaryBytes))
	t.add("image - (base + binary layer)", size(im.Image-im.Base-im.BinaryLayer))
	return t
}

func writeSummary(w io.Writer, res benchResults) {
	m := res.Machine
	t := &table{title: "Machine and summary, run " + res.Run}
	t.add("started", m.StartedAtUTC)
	t.add("CPUs", fmt.Sprintf("%d × %s", m.CPUs, m.CPUModel))
	t.add("memory", fmt.Sprintf("%d MB", m.MemoryMB))
	t.add("load average at the start", m.Load)
	t.add("kernel", m.Kernel)
	t.add("Go", m.Go)
	t.add("Dagger", m.Dagger)
	t.add("Gitea", m.Gitea)
	t.add("images", "`"+m.GoImage+"`, `"+m.BaseImage+"`")
	t.add("module load before the runs (untimed in the totals)", seconds(res.ModuleLoad))
	for _, r := range res.Targets {
		for _, run := range r.Runs {
			t.add(fmt.Sprintf("%s %s total", r.Target, run.Name), seconds(run.Total))
		}
		t.add(r.Target+" baseline", seconds(r.Baseline.Total()))
		t.add(r.Target+" warm / baseline", fmt.Sprintf("%.1f", r.Ratio()))
		t.add(r.Target+" warm bytes uploaded", size(r.warm().BytesUploaded()))
	}
	t.write(w)
}

func blobKind(b registry.Blob) string {
	switch {
	case strings.Contains(b.MediaType, "config"):
		return "config"
	case strings.Contains(b.MediaType, "layer"):
		return "layer"
	}
	return b.MediaType
}

func shortDigest(d string) string {
	_, hex, _ := strings.Cut(d, ":")
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}

func seconds(d time.Duration) string {
	switch {
	case d == 0:
		return "–"
	case d < 10*time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
}

// size formats bytes in decimal units.
func size(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	default:
		return fmt.Sprintf("%.2f MB", float64(n)/1e6)
	}
}
