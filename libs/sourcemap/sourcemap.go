// Package sourcemap owns Source Map v3 (ECMA-426): parsing regular and index
// maps, decoding their Base64 VLQ mappings, and mapping a position of a
// generated (minified) file back to its original source, line, column and
// function name, with context lines from sourcesContent.
//
// Maps are untrusted input: Parse never panics, bounds what it builds by
// what it reads, and returns an error for anything it cannot use. A parsed
// Map is immutable and safe for concurrent use.
package sourcemap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Limits of what Parse accepts.
const (
	maxSections = 1 << 12
	maxSources  = 1 << 16
	maxNames    = 1 << 20
)

// Map is a parsed source map: a regular one, or an index map made of
// sections of regular maps.
type Map struct {
	File     string
	Sources  []string
	Names    []string
	contents []*string // sourcesContent; nil entries where missing
	lines    [][]segment
	sections []section // an index map's, ordered by offset
	size     int64

	linesOnce  []sync.Once // per source: split contents into lines on first use
	srcLines   [][]string
	scopesOnce []sync.Once // per source: find its functions on first use
	scopes     [][]scope
}

// segment is one decoded mapping: a generated column and, when src >= 0,
// the original position it came from. name is -1 when it has none.
type segment struct {
	genCol  int32
	src     int32
	srcLine int32
	srcCol  int32
	name    int32
}

type section struct {
	line, col int32
	m         *Map
}

// Token is where a generated position came from. Line and Column are
// 1-based, as in stack frames.
type Token struct {
	Source string
	Line   int
	Column int
	Name   string // the name the mapping carries (the identifier there), or ""

	m   *Map // the (sub)map the token is from, for its sources' contents
	src int
}

type rawSection struct {
	Offset struct {
		Line   int `json:"line"`
		Column int `json:"column"`
	} `json:"offset"`
	Map json.RawMessage `json:"map"`
	URL string          `json:"url"`
}

type rawMap struct {
	Version        int          `json:"version"`
	File           string       `json:"file"`
	SourceRoot     string       `json:"sourceRoot"`
	Sources        []*string    `json:"sources"`
	SourcesContent []*string    `json:"sourcesContent"`
	Names          []string     `json:"names"`
	Mappings       string       `json:"mappings"`
	Sections       []rawSection `json:"sections"`
}

// Parse reads a source map. A leading ")]}'" line (the XSSI guard some
// servers prepend) is skipped.
func Parse(data []byte) (*Map, error) {
	return parse(data, 0)
}

func parse(data []byte, depth int) (*Map, error) {
	data = bytes.TrimSpace(data)
	if bytes.HasPrefix(data, []byte(")]}'")) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		} else {
			data = nil
		}
	}
	var r rawMap
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("source map is not valid JSON: %w", err)
	}
	if r.Version != 3 {
		return nil, fmt.Errorf("source map version %d is not supported (want 3)", r.Version)
	}
	if r.Sections != nil {
		if depth > 0 {
			return nil, errors.New("index map section is itself an index map")
		}
		return parseIndex(&r, int64(len(data)))
	}
	if len(r.Sources) > maxSources {
		return nil, fmt.Errorf("source map has %d sources (at most %d)", len(r.Sources), maxSources)
	}
	if len(r.Names) > maxNames {
		return nil, fmt.Errorf("source map has %d names (at most %d)", len(r.Names), maxNames)
	}
	m := &Map{File: r.File, Names: r.Names, Sources: make([]string, len(r.Sources))}
	for i, s := range r.Sources {
		if s != nil {
			m.Sources[i] = joinRoot(r.SourceRoot, *s)
		}
	}
	m.contents = make([]*string, len(m.Sources))
	copy(m.contents, r.SourcesContent)
	m.linesOnce = make([]sync.Once, len(m.Sources))
	m.srcLines = make([][]string, len(m.Sources))
	m.scopesOnce = make([]sync.Once, len(m.Sources))
	m.scopes = make([][]scope, len(m.Sources))
	var err error
	if m.lines, err = decodeMappings(r.Mappings, len(m.Sources), len(m.Names)); err != nil {
		return nil, err
	}
	// What the map holds besides its segments: the JSON's strings once,
	// and lazily their lines and functions, about as much again.
	m.size = 2*int64(len(data)) + 64
	for _, l := range m.lines {
		m.size += 24 + int64(len(l))*20
	}
	return m, nil
}

func parseIndex(r *rawMap, size int64) (*Map, error) {
	if len(r.Sections) > maxSections {
		return nil, fmt.Errorf("index map has %d sections (at most %d)", len(r.Sections), maxSections)
	}
	m := &Map{File: r.File, size: size}
	for i, s := range r.Sections {
		if len(s.Map) == 0 {
			if s.URL != "" {
				return nil, fmt.Errorf("index map section %d refers to %q: sections by url are not supported", i, s.URL)
			}
			return nil, fmt.Errorf("index map section %d has no map", i)
		}
		if s.Offset.Line < 0 || s.Offset.Column < 0 || s.Offset.Line > 1<<30 || s.Offset.Column > 1<<30 {
			return nil, fmt.Errorf("index map section %d has a bad offset", i)
		}
		sub, err := parse(s.Map, 1)
		if err != nil {
			return nil, fmt.Errorf("index map section %d: %w", i, err)
		}
		sec := section{line: int32(s.Offset.Line), col: int32(s.Offset.Column), m: sub}
		if n := len(m.sections); n > 0 {
			prev := m.sections[n-1]
			if sec.line < prev.line || sec.line == prev.line && sec.col < prev.col {
				return nil, fmt.Errorf("index map section %d starts before section %d", i, i-1)
			}
		}
		m.sections = append(m.sections, sec)
		m.Sources = append(m.Sources, sub.Sources...)
	}
	return m, nil
}

func joinRoot(root, src string) string {
	if root == "" || strings.Contains(src, "://") || strings.HasPrefix(src, "/") {
		return src
	}
	return strings.TrimSuffix(root, "/") + "/" + src
}

// decodeMappings decodes the "mappings" string: generated lines separated by
// ';', segments by ','; each segment 1, 4 or 5 VLQ fields relative to the
// previous segment (the generated column to the previous one of the line).
func decodeMappings(s string, nSources, nNames int) ([][]segment, error) {
	lines := make([][]segment, 0, strings.Count(s, ";")+1)
	var line []segment
	var genCol, src, srcLine, srcCol, name int64
	var fields [5]int32
	for i := 0; i <= len(s); {
		if i == len(s) || s[i] == ';' {
			sortLine(line)
			lines = append(lines, line)
			line, genCol = nil, 0
			i++
			continue
		}
		if s[i] == ',' {
			i++
			continue
		}
		n := 0
		for i < len(s) && s[i] != ',' && s[i] != ';' {
			if n == 5 {
				return nil, fmt.Errorf("mapping segment at byte %d has more than 5 fields", i)
			}
			v, next, err := DecodeVLQ(s, i)
			if err != nil {
				return nil, fmt.Errorf("mappings at byte %d: %w", i, err)
			}
			fields[n], i = v, next
			n++
		}
		if n != 1 && n != 4 && n != 5 {
			return nil, fmt.Errorf("mapping segment before byte %d has %d fields (want 1, 4 or 5)", i, n)
		}
		genCol += int64(fields[0])
		if genCol < 0 || genCol > 1<<31-1 {
			return nil, fmt.Errorf("mapping segment before byte %d has a negative column", i)
		}
		seg := segment{genCol: int32(genCol), src: -1, name: -1}
		if n >= 4 {
			src += int64(fields[1])
			srcLine += int64(fields[2])
			srcCol += int64(fields[3])
			if src < 0 || src >= int64(nSources) {
				return nil, fmt.Errorf("mapping segment before byte %d names source %d of %d", i, src, nSources)
			}
			if srcLine < 0 || srcCol < 0 || srcLine > 1<<31-1 || srcCol > 1<<31-1 {
				return nil, fmt.Errorf("mapping segment before byte %d has a negative original position", i)
			}
			seg.src, seg.srcLine, seg.srcCol = int32(src), int32(srcLine), int32(srcCol)
		}
		if n == 5 {
			name += int64(fields[4])
			if name < 0 || name >= int64(nNames) {
				return nil, fmt.Errorf("mapping segment before byte %d names name %d of %d", i, name, nNames)
			}
			seg.name = int32(name)
		}
		line = append(line, seg)
	}
	return lines, nil
}

// sortLine orders a line's segments by generated column; encoders write them
// in order, so this is usually a check.
func sortLine(l []segment) {
	if !sort.SliceIsSorted(l, func(a, b int) bool { return l[a].genCol < l[b].genCol }) {
		sort.SliceStable(l, func(a, b int) bool { return l[a].genCol < l[b].genCol })
	}
}

// Size is an estimate of the memory the parsed map holds, in bytes.
func (m *Map) Size() int64 {
	n := m.size
	for _, s := range m.sections {
		n += s.m.Size()
	}
	return n
}

// Lookup maps a 1-based line and column of the generated file to where it
// came from: the mapping at or before the column on that line. ok is false
// when the line has no such mapping or it has no original position.
func (m *Map) Lookup(line, col int) (Token, bool) {
	if line < 1 || col < 1 || line > 1<<31-1 || col > 1<<31-1 {
		return Token{}, false
	}
	l, c := int32(line-1), int32(col-1)
	if m.sections != nil {
		i := sort.Search(len(m.sections), func(i int) bool {
			s := m.sections[i]
			return s.line > l || s.line == l && s.col > c
		}) - 1
		if i < 0 {
			return Token{}, false
		}
		s := m.sections[i]
		if l == s.line {
			c -= s.col
		}
		return s.m.Lookup(int(l-s.line)+1, int(c)+1)
	}
	if int(l) >= len(m.lines) {
		return Token{}, false
	}
	segs := m.lines[l]
	i := sort.Search(len(segs), func(i int) bool { return segs[i].genCol > c }) - 1
	if i < 0 || segs[i].src < 0 {
		return Token{}, false
	}
	s := segs[i]
	t := Token{Source: m.Sources[s.src], Line: int(s.srcLine) + 1, Column: int(s.srcCol) + 1, m: m, src: int(s.src)}
	if s.name >= 0 {
		t.Name = m.Names[s.name]
	}
	return t, true
}

// SourceLines are the lines of the token's source from sourcesContent, or
// nil when the map does not carry it.
func (t Token) SourceLines() []string {
	m := t.m
	if m == nil || t.src >= len(m.contents) || m.contents[t.src] == nil {
		return nil
	}
	m.linesOnce[t.src].Do(func() {
		s := *m.contents[t.src]
		lines := strings.Split(s, "\n")
		for i, l := range lines {
			lines[i] = strings.TrimSuffix(l, "\r")
		}
		if n := len(lines); n > 1 && lines[n-1] == "" {
			lines = lines[:n-1] // the "line" after a final newline
		}
		m.srcLines[t.src] = lines
	})
	return m.srcLines[t.src]
}

// Context is the token's line of source and up to n lines before and after
// it, from sourcesContent; ok is false when the map has no content for the
// source or the line is past its end.
func (t Token) Context(n int) (pre []string, line string, post []string, ok bool) {
	lines := t.SourceLines()
	i := t.Line - 1
	if i < 0 || i >= len(lines) {
		return nil, "", nil, false
	}
	lo, hi := max(i-n, 0), min(i+1+n, len(lines))
	return append([]string(nil), lines[lo:i]...), lines[i], append([]string(nil), lines[i+1:hi]...), true
}
