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
	"fmt"
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
