package writeback

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/incluster/incluster/pipeline/manifest"
)

// rewrite is the outcome of applying a Request's updates to the current
// content of its files.
type rewrite struct {
	// content maps each changed file to its new content.
	content map[string][]byte
	// files lists the changed files in Request order.
	files []string
	// changes are in file order, and within a file sorted by offset in
	// the file's current content, so that manifest.Apply of one file's
	// changes to its current content yields its new content.
	changes []manifest.Change
}

// applyUpdates runs manifest.Rewrite for every update on every file, in
// order, so that updates to the same file compose. current maps each path
// in files to its content at the branch tip. An update that matches no
// file fails with an error that wraps manifest.ErrNoMatch, because it
// names an image that the manifests do not use.
func applyUpdates(files []string, current map[string][]byte, updates []manifest.Update) (rewrite, error) {
	out := rewrite{content: make(map[string][]byte)}
	matched := make([]bool, len(updates))
	for _, file := range files {
		data := current[file]
		// fileChanges are relative to current[file], while each Rewrite
		// reports offsets in the output of the previous one.
		var fileChanges []manifest.Change
		for i, u := range updates {
			next, changes, err := manifest.Rewrite(file, data, u)
			if errors.Is(err, manifest.ErrNoMatch) {
				continue
			}
			if err != nil {
				return rewrite{}, fmt.Errorf("rewrite %s for %s: %w", file, reference(u), err)
			}
			matched[i] = true
			data = next
			fileChanges, err = mergeOriginal(fileChanges, changes)
			if err != nil {
				return rewrite{}, fmt.Errorf("rewrite %s for %s: %w", file, reference(u), err)
			}
		}
		if len(fileChanges) == 0 || bytes.Equal(data, current[file]) {
			continue
		}
		out.content[file] = data
		out.files = append(out.files, file)
		out.changes = append(out.changes, fileChanges...)
	}
	for i, u := range updates {
		if !matched[i] {
			return rewrite{}, fmt.Errorf("apply %s: %w %s in %s",
				reference(u), manifest.ErrNoMatch, u.Image, strings.Join(files, ", "))
		}
	}
	return out, nil
}

// mergeOriginal translates changes, the output of one Rewrite of the
// content that the earlier changes produced, into changes to the original
// content, and merges them into earlier. Both lists are sorted by offset.
// It fails when a change overlaps an earlier one, which happens when two
// updates name the same image in different spellings.
func mergeOriginal(earlier, changes []manifest.Change) ([]manifest.Change, error) {
	merged := make([]manifest.Change, 0, len(earlier)+len(changes))
	next := 0 // the first earlier change not yet in merged
	shift, lines := 0, 0
	for _, c := range changes {
		for next < len(earlier) {
			e := earlier[next]
			start := e.Offset + shift
			end := start + len(e.New)
			if end > c.Offset {
				if c.Offset+len(c.Old) > start {
					return nil, fmt.Errorf("two updates change %s at line %d: list each image once", c.Path, c.Line)
				}
				break
			}
			// e lies wholly before c in the content that c refers to.
			shift += len(e.New) - len(e.Old)
			lines += strings.Count(e.New, "\n") - strings.Count(e.Old, "\n")
			merged = append(merged, e)
			next++
		}
		c.Offset -= shift
		c.Line -= lines
		merged = append(merged, c)
	}
	return append(merged, earlier[next:]...), nil
}

// changed reports whether the rewrite has anything to commit.
func (r rewrite) changed() bool { return len(r.files) > 0 }
