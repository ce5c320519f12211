//go:build stack

package writeback

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/incluster/incluster/pipeline/manifest"
)

// benchConcurrency lists the numbers of concurrent bumps to measure.
var benchConcurrency = []int{1, 5, 20}

// benchRow is one measured configuration.
type benchRow struct {
	backend   string
	bumps     int
	batches   int
	total     time.Duration
	attempts  int
	failures  int
	perCommit time.Duration
}

// BenchmarkStackWriteBack measures batches of 1, 5 and 20 concurrent bumps
// of one file through each backend against the stack's Gitea. Each bump
// changes a different image in the file to a new tag, so every bump makes
// one commit. It reports the time per batch (ns/op), per commit and the
// attempts per commit, and prints a table of both backends side by side.
//
//	go test -tags stack -run '^$' -bench StackWriteBack -benchtime 3x ./pipeline/writeback
func BenchmarkStackWriteBack(b *testing.B) {
	g := sharedGitea(b)
	var rows []benchRow
	b.Cleanup(func() { printBenchTable(rows) })

	for _, n := range benchConcurrency {
		for _, name := range backendNames {
			b.Run(fmt.Sprintf("bumps=%d/%s", n, name), func(b *testing.B) {
				w := g.backends(b)[name]
				repo := g.createRepo(b, map[string]string{"app/deployment.yaml": manyImagesDeployment(n)})
				row := benchRow{backend: name, bumps: n}

				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					tag := fmt.Sprintf("v%d", i+2)
					outcomes := make([]bumpOutcome, n)
					var wg sync.WaitGroup
					start := time.Now()
					for j := range n {
						wg.Go(func() {
							req := stackRequest(repo, "")
							req.Updates = []manifest.Update{{Image: imageName(j), Tag: tag}}
							req.Timeout = 5 * time.Minute
							outcomes[j].result, outcomes[j].err = w.Write(context.Background(), req)
						})
					}
					wg.Wait()
					row.total += time.Since(start)
					row.batches++
					for j, o := range outcomes {
						if o.err != nil || !o.result.Changed {
							row.failures++
							b.Errorf("bump %d of batch %d: changed=%v, error: %v", j, i, o.result.Changed, o.err)
						}
						row.attempts += o.result.Attempts
					}
				}
				b.StopTimer()

				commits := row.batches * n
				row.perCommit = row.total / time.Duration(commits)
				b.ReportMetric(float64(row.perCommit.Milliseconds()), "ms/commit")
				b.ReportMetric(float64(row.attempts)/float64(commits), "attempts/commit")
				rows = append(rows, row)
			})
		}
	}
}

// printBenchTable prints the measured rows with both backends side by
// side, one line per batch size.
func printBenchTable(rows []benchRow) {
	if len(rows) == 0 {
		return
	}
	byKey := make(map[string]benchRow)
	for _, r := range rows {
		byKey[fmt.Sprintf("%s/%d", r.backend, r.bumps)] = r
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "bumps\tgitea total\tgitea per commit\tgitea attempts\tgit total\tgit per commit\tgit attempts\t")
	for _, n := range benchConcurrency {
		line := fmt.Sprintf("%d\t", n)
		for _, name := range backendNames {
			r, ok := byKey[fmt.Sprintf("%s/%d", name, n)]
			if !ok {
				line += "-\t-\t-\t"
				continue
			}
			perBatch := r.total / time.Duration(r.batches)
			line += fmt.Sprintf("%s\t%s\t%.1f\t", perBatch.Round(time.Millisecond), r.perCommit.Round(time.Millisecond),
				float64(r.attempts)/float64(r.batches*r.bumps))
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
}
