package manifest

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v4"
)

var byteOrderMark = []byte("\ufeff")

// source maps the parser's positions to byte offsets in the input. The
// parser counts lines and columns from 1, counts columns in characters, does
// not count a leading byte order mark, and ends a line at LF, CR, CRLF, NEL,
// LS or PS, as the go.yaml.in/yaml/v4 scanner does.
type source struct {
	data   []byte
	starts []int // byte offset of each line's first character

	// The last position looked up, so that a walk along one long line
	// does not count its characters from the line start each time.
	lastLine, lastColumn, lastOffset int
}

func newSource(data []byte) *source {
	start := 0
	if bytes.HasPrefix(data, byteOrderMark) {
		start = len(byteOrderMark)
	}
	s := &source{data: data, starts: []int{start}}
	for i := start; i < len(data); i++ {
		if n := breakLen(data, i); n > 0 {
			i += n - 1
			s.starts = append(s.starts, i+1)
		}
	}
	return s
}

// breakLen returns the length of the line break at data[i], or 0.
func breakLen(data []byte, i int) int {
	switch data[i] {
	case '\n':
		return 1
	case '\r':
		if i+1 < len(data) && data[i+1] == '\n' {
			return 2
		}
		return 1
	case 0xC2: // NEL is C2 85
		if i+1 < len(data) && data[i+1] == 0x85 {
			return 2
		}
	case 0xE2: // LS is E2 80 A8, PS is E2 80 A9
		if i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xA8 || data[i+2] == 0xA9) {
			return 3
		}
	}
	return 0
}

// offset returns the byte offset of a 1-based line and column.
func (s *source) offset(line, column int) (int, error) {
	if line < 1 || line > len(s.starts) || column < 1 {
		return 0, fmt.Errorf("locate line %d, column %d: out of range", line, column)
	}
	i, col := s.starts[line-1], 1
	if line == s.lastLine && column >= s.lastColumn {
		i, col = s.lastOffset, s.lastColumn
	}
	for ; col < column; col++ {
		if i >= len(s.data) {
			return 0, fmt.Errorf("locate line %d, column %d: past the end of input", line, column)
		}
		_, size := utf8.DecodeRune(s.data[i:])
		i += size
	}
	s.lastLine, s.lastColumn, s.lastOffset = line, column, i
	return i, nil
}

// line returns the 1-based line that holds byte offset i.
func (s *source) line(i int) int {
	return sort.SearchInts(s.starts, i+1)
}

// span returns the byte range of scalar n's text: the characters between
// the quotes for a quoted scalar, the content line for a single-line block
// scalar. An empty plain scalar (a key with no value) has an empty span
// where its value would start.
func (s *source) span(n *yaml.Node) (int, int, error) {
	fail := func(reason string) (int, int, error) {
		return 0, 0, fmt.Errorf("locate value %q at line %d, column %d: %s", n.Value, n.Line, n.Column, reason)
	}
	pos, err := s.offset(n.Line, n.Column)
	if err != nil {
		return 0, 0, err
	}
	d := s.data
	nodeStart := pos
	pos = s.skipProperties(pos, n.Value != "")
	switch {
	case n.Value == "" && n.Style&^yaml.TaggedStyle == 0:
		// An empty value can take text only right after "key:", not after
		// an anchor or tag, nor in "? key" or a flow "{key}" without a colon.
		if pos != nodeStart {
			return fail(`empty value with an anchor or tag; write the field as key: ""`)
		}
		colon := pos
		for colon > 0 && (d[colon-1] == ' ' || d[colon-1] == '\t') {
			colon--
		}
		if colon == 0 || d[colon-1] != ':' {
			return fail(`empty value without a colon before it; write the field as key: ""`)
		}
		return pos, pos, nil
	case n.Style&yaml.DoubleQuotedStyle != 0:
		if pos >= len(d) || d[pos] != '"' {
			return fail("no opening quote")
		}
		end := pos + 1
		for ; end < len(d) && d[end] != '"'; end++ {
			if d[end] == '\\' {
				end++
			}
		}
		if end >= len(d) {
			return fail("no closing quote")
		}
		return pos + 1, end, nil
	case n.Style&yaml.SingleQuotedStyle != 0:
		if pos >= len(d) || d[pos] != '\'' {
			return fail("no opening quote")
		}
		end := pos + 1
		for ; end < len(d); end++ {
			if d[end] != '\'' {
				continue
			}
			if end+1 < len(d) && d[end+1] == '\'' {
				end++
				continue
			}
			return pos + 1, end, nil
		}
		return fail("no closing quote")
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		if pos >= len(d) || (d[pos] != '|' && d[pos] != '>') {
			return fail("no block scalar indicator")
		}
		for pos < len(d) && breakLen(d, pos) == 0 {
			pos++
		}
		pos = skipSpace(d, pos, true)
	}
	if strings.ContainsAny(n.Value, " \t\r\n\u0085\u2028\u2029") {
		return fail("values that span lines or hold spaces are not supported")
	}
	if !bytes.HasPrefix(d[pos:], []byte(n.Value)) {
		return fail("text at the position differs from the value")
	}
	return pos, pos + len(n.Value), nil
}

// end returns the byte offset just past node n's text, closing quote
// included. n is a scalar or an alias.
func (s *source) end(n *yaml.Node) (int, error) {
	if n.Kind == yaml.AliasNode {
		pos, err := s.offset(n.Line, n.Column)
		if err != nil {
			return 0, err
		}
		return pos + len("*") + len(n.Value), nil
	}
	_, end, err := s.span(n)
	if err != nil {
		return 0, err
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		end++
	}
	return end, nil
}

// skipProperties moves past an anchor (&name) and a tag (!tag) that precede
// a node's text, and the space after them. It crosses line breaks and
// comments only when crossLines is set, because an empty value ends at the
// line break.
func (s *source) skipProperties(pos int, crossLines bool) int {
	d := s.data
	for pos < len(d) && (d[pos] == '&' || d[pos] == '!') {
		for pos < len(d) && d[pos] != ' ' && d[pos] != '\t' && breakLen(d, pos) == 0 {
			pos++
		}
		pos = skipSpace(d, pos, crossLines)
	}
	return pos
}

// skipSpace moves past spaces and tabs and, when crossLines is set, past
// line breaks and comments too.
func skipSpace(d []byte, pos int, crossLines bool) int {
	for pos < len(d) {
		switch {
		case d[pos] == ' ' || d[pos] == '\t':
			pos++
		case crossLines && breakLen(d, pos) > 0:
			pos += breakLen(d, pos)
		case crossLines && d[pos] == '#':
			for pos < len(d) && breakLen(d, pos) == 0 {
				pos++
			}
		default:
			return pos
		}
	}
	return pos
}

// lineBreakAfter returns the offset of the first line break at or after
// pos and its text, or len(data) and "" when the input ends first.
func (s *source) lineBreakAfter(pos int) (int, string) {
	for i := pos; i < len(s.data); i++ {
		if n := breakLen(s.data, i); n > 0 {
			return i, string(s.data[i : i+n])
		}
	}
	return len(s.data), ""
}

// firstLineBreak returns the input's first line break, "\n" when it has none.
func (s *source) firstLineBreak() string {
	if _, brk := s.lineBreakAfter(0); brk != "" {
		return brk
	}
	return "\n"
}

// plainText returns value as YAML text that reads back as the same string:
// plain when it resolves to a string as written, double-quoted otherwise
// (for example a tag "1.30" would read back as the number 1.3).
func plainText(value string) string {
	if value == "" {
		return `""`
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(value), &doc); err == nil &&
		len(doc.Content) == 1 && doc.Content[0].Kind == yaml.ScalarNode &&
		doc.Content[0].Tag == "!!str" && doc.Content[0].Value == value &&
		doc.Content[0].Style == 0 {
		return value
	}
	return `"` + value + `"`
}
