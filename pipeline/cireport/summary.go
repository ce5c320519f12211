package cireport

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary renders rep as the Markdown of a GitHub job summary: a table of
// the steps with their durations, the image reference, the manifest commit
// and the manifest diff.
func Summary(rep Report) string {
	var b strings.Builder
	b.WriteString("### incluster\n\n")

	if len(rep.Steps) > 0 {
		b.WriteString("| Step | Duration | Result |\n| --- | ---: | --- |\n")
		for _, s := range rep.Steps {
			result := "ok"
			if s.Error != "" {
				result = "failed: " + s.Error
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", tableCell(s.Name), formatDuration(s.Duration), tableCell(result))
		}
		b.WriteString("\n")
	}

	fmt.Fprintf(&b, "**Image:** %s\n\n", codeOrNone(rep.Image))
	fmt.Fprintf(&b, "**Digest:** %s\n\n", codeOrNone(rep.Digest))
	fmt.Fprintf(&b, "**Manifest commit:** %s\n\n", codeOrNone(rep.Commit))

	if rep.ManifestDiff == "" {
		b.WriteString("The manifest already had this image: nothing was committed.\n")
		return b.String()
	}
	fence := strings.Repeat("`", max(3, longestRun(rep.ManifestDiff, '`')+1))
	diff := strings.TrimSuffix(rep.ManifestDiff, "\n")
	fmt.Fprintf(&b, "<details><summary>Manifest diff</summary>\n\n%sdiff\n%s\n%s\n\n</details>\n", fence, diff, fence)
	return b.String()
}

// WritePlain prints rep for a terminal or a log: one fact per line, the
// steps as a table, then the manifest diff.
func WritePlain(w io.Writer, rep Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "image:  %s\n", valueOrNone(rep.Image))
	fmt.Fprintf(&b, "digest: %s\n", valueOrNone(rep.Digest))
	fmt.Fprintf(&b, "commit: %s\n", valueOrNone(rep.Commit))
	if len(rep.Steps) > 0 {
		b.WriteString("steps:\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, s := range rep.Steps {
			result := "ok"
			if s.Error != "" {
				result = "failed: " + s.Error
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, formatDuration(s.Duration), result)
		}
		tw.Flush()
	}
	if rep.ManifestDiff == "" {
		b.WriteString("manifest diff: none, the manifest already had this image\n")
	} else {
		b.WriteString("manifest diff:\n")
		b.WriteString(strings.TrimSuffix(rep.ManifestDiff, "\n"))
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// formatDuration rounds d for people: milliseconds below a second, tenths
// of a second above.
func formatDuration(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func valueOrNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func codeOrNone(s string) string {
	if s == "" {
		return "none"
	}
	return codeSpan(s)
}

// codeSpan returns s as a Markdown code span whose backtick fence is
// longer than any backtick run inside s.
func codeSpan(s string) string {
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// tableCell keeps s inside one cell of a Markdown table row.
func tableCell(s string) string {
	s = strings.ReplaceAll(s, "\r", "")
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

func longestRun(s string, c byte) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}
