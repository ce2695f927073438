// Package ownership reads a project's ownership rules in Sentry's syntax:
// one rule a line, a matcher and the owners of what it matches,
//
//	path:src/payments/* #payments alice@example.com
//	url:https://shop.example.com/checkout/* #checkout
//	tags.service:billing #billing
//	module:com.example.billing.* #billing
//	codeowners:src/ui/* #frontend
//
// with # comments and blank lines. It owns the syntax only: which teams and
// members exist is the caller's to check, with Owners.
package ownership

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Matcher types, as Sentry's; tags.<key> matches a tag's value.
const (
	MatchPath       = "path"
	MatchModule     = "module"
	MatchURL        = "url"
	MatchCodeowners = "codeowners"
	MatchTagPrefix  = "tags."
)

// Owner kinds.
const (
	OwnerTeam = "team" // #team-slug
	OwnerUser = "user" // an email address
)

// Owner is one owner of a rule.
type Owner struct {
	Kind       string // OwnerTeam or OwnerUser
	Identifier string // the team's slug or the user's email, lower case
}

func (o Owner) String() string {
	if o.Kind == OwnerTeam {
		return "#" + o.Identifier
	}
	return o.Identifier
}

// Rule is one line: what Type:Pattern matches belongs to Owners.
type Rule struct {
	Line    int
	Type    string // path, module, url, codeowners or tags.<key>
	Pattern string
	Owners  []Owner
}

// Limits of what Parse accepts.
const (
	MaxBytes  = 64 << 10
	MaxRules  = 1000
	MaxOwners = 50 // per rule
)

// Error is a rule that does not parse, with its line.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Parse reads rules. A rule needs a known matcher type, a pattern and at
// least one owner: #team or an email address.
func Parse(raw string) ([]Rule, error) {
	if len(raw) > MaxBytes {
		return nil, &Error{Line: 0, Msg: "ownership rules longer than " + strconv.Itoa(MaxBytes) + " bytes"}
	}
	if !utf8.ValidString(raw) {
		return nil, &Error{Line: 0, Msg: "ownership rules are not UTF-8"}
	}
	var rules []Rule
	for i, line := range strings.Split(raw, "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := parseLine(line)
		if err != nil {
			return nil, &Error{Line: n, Msg: err.Error()}
		}
		r.Line = n
		if len(rules) == MaxRules {
			return nil, &Error{Line: n, Msg: "more than " + strconv.Itoa(MaxRules) + " rules"}
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func parseLine(line string) (Rule, error) {
	var r Rule
	typ, rest, ok := strings.Cut(line, ":")
	if !ok {
		return r, fmt.Errorf("want matcher:pattern owners, got %q", clip(line))
	}
	switch {
	case typ == MatchPath, typ == MatchModule, typ == MatchURL, typ == MatchCodeowners:
	case strings.HasPrefix(typ, MatchTagPrefix) && len(typ) > len(MatchTagPrefix) && !strings.ContainsAny(typ, " \t"):
	default:
		return r, fmt.Errorf("unknown matcher %q (want path, module, url, codeowners or tags.<key>)", clip(typ))
	}
	r.Type = typ
	pattern, rest, err := readPattern(rest)
	if err != nil {
		return r, err
	}
	r.Pattern = pattern
	for _, f := range strings.Fields(rest) {
		o, err := parseOwner(f)
		if err != nil {
			return r, err
		}
		if len(r.Owners) == MaxOwners {
			return r, fmt.Errorf("more than %d owners", MaxOwners)
		}
		r.Owners = append(r.Owners, o)
	}
	if len(r.Owners) == 0 {
		return r, fmt.Errorf("rule %s:%s has no owner (#team or an email address)", r.Type, clip(r.Pattern))
	}
	return r, nil
}

// readPattern reads a pattern: a run of non-space characters, or a double-
// quoted string with \" and \\ escapes.
func readPattern(s string) (pattern, rest string, err error) {
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			switch c := s[i]; c {
			case '\\':
				if i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					b.WriteByte(s[i+1])
					i++
					continue
				}
				b.WriteByte(c)
			case '"':
				if b.Len() == 0 {
					return "", "", fmt.Errorf("empty pattern")
				}
				return b.String(), s[i+1:], nil
			default:
				b.WriteByte(c)
			}
		}
		return "", "", fmt.Errorf("unterminated quoted pattern")
	}
	end := strings.IndexAny(s, " \t")
	if end < 0 {
		end = len(s)
	}
	if end == 0 {
		return "", "", fmt.Errorf("empty pattern")
	}
	return s[:end], s[end:], nil
}

func parseOwner(f string) (Owner, error) {
	if slug, ok := strings.CutPrefix(f, "#"); ok {
		if slug == "" {
			return Owner{}, fmt.Errorf("owner %q: a team needs its slug", f)
		}
		return Owner{Kind: OwnerTeam, Identifier: strings.ToLower(slug)}, nil
	}
	if at := strings.IndexByte(f, '@'); at > 0 && at < len(f)-1 {
		return Owner{Kind: OwnerUser, Identifier: strings.ToLower(f)}, nil
	}
	return Owner{}, fmt.Errorf("owner %q: want #team or an email address", clip(f))
}

// Owners lists the distinct owners the rules name, in order of first use.
func Owners(rules []Rule) []Owner {
	seen := map[Owner]bool{}
	var out []Owner
	for _, r := range rules {
		for _, o := range r.Owners {
			if !seen[o] {
				seen[o] = true
				out = append(out, o)
			}
		}
	}
	return out
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Subject is what rules match of an event: its frames' paths (filename and
// abs_path) and modules, its request URL and its tags.
type Subject struct {
	Paths   []string
	Modules []string
	URL     string
	Tags    map[string]string
}

// Match returns the owners of the last rule that matches s (Sentry's
// order: the last matching rule wins), nil when none does.
func Match(rules []Rule, s Subject) []Owner {
	for i := len(rules) - 1; i >= 0; i-- {
		if matches(rules[i], s) {
			return rules[i].Owners
		}
	}
	return nil
}

func matches(r Rule, s Subject) bool {
	switch {
	case r.Type == MatchPath || r.Type == MatchCodeowners:
		for _, p := range s.Paths {
			if glob(r.Pattern, p) || glob(r.Pattern, strings.TrimPrefix(p, "/")) {
				return true
			}
		}
	case r.Type == MatchModule:
		for _, m := range s.Modules {
			if glob(r.Pattern, m) {
				return true
			}
		}
	case r.Type == MatchURL:
		return s.URL != "" && glob(r.Pattern, s.URL)
	case strings.HasPrefix(r.Type, MatchTagPrefix):
		v, ok := s.Tags[r.Type[len(MatchTagPrefix):]]
		return ok && glob(r.Pattern, v)
	}
	return false
}

// glob matches s against pattern, case-insensitively, as Sentry's fnmatch:
// * matches any run of characters (slashes too), ? any one character.
func glob(pattern, s string) bool {
	p, t := []rune(strings.ToLower(pattern)), []rune(strings.ToLower(s))
	// Iterative matching with one backtrack point: linear in practice.
	pi, ti, star, mark := 0, 0, -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// SubjectOf reads a Subject from a normalized event's JSON: the frames of
// its exceptions, threads and top-level stack trace, request.url, and tags
// (as pairs or an object). An event it cannot read matches nothing.
func SubjectOf(event []byte) Subject {
	type frames struct {
		Frames []struct {
			Filename string `json:"filename"`
			AbsPath  string `json:"abs_path"`
			Module   string `json:"module"`
		} `json:"frames"`
	}
	type withStack struct {
		Stacktrace *frames `json:"stacktrace"`
	}
	var e struct {
		Exception *struct {
			Values []withStack `json:"values"`
		} `json:"exception"`
		Threads *struct {
			Values []withStack `json:"values"`
		} `json:"threads"`
		Stacktrace *frames `json:"stacktrace"`
		Request    *struct {
			URL string `json:"url"`
		} `json:"request"`
		Tags json.RawMessage `json:"tags"`
	}
	var s Subject
	if json.Unmarshal(event, &e) != nil {
		return s
	}
	var stacks []*frames
	if e.Exception != nil {
		for _, v := range e.Exception.Values {
			stacks = append(stacks, v.Stacktrace)
		}
	}
	if e.Threads != nil {
		for _, v := range e.Threads.Values {
			stacks = append(stacks, v.Stacktrace)
		}
	}
	stacks = append(stacks, e.Stacktrace)
	for _, st := range stacks {
		if st == nil {
			continue
		}
		for _, f := range st.Frames {
			for _, p := range []string{f.Filename, f.AbsPath} {
				if p != "" && !slices.Contains(s.Paths, p) {
					s.Paths = append(s.Paths, p)
				}
			}
			if f.Module != "" && !slices.Contains(s.Modules, f.Module) {
				s.Modules = append(s.Modules, f.Module)
			}
		}
	}
	if e.Request != nil {
		s.URL = e.Request.URL
	}
	var pairs [][2]string
	var obj map[string]string
	switch {
	case json.Unmarshal(e.Tags, &pairs) == nil:
		s.Tags = make(map[string]string, len(pairs))
		for _, p := range pairs {
			s.Tags[p[0]] = p[1]
		}
	case json.Unmarshal(e.Tags, &obj) == nil:
		s.Tags = obj
	}
	return s
}
