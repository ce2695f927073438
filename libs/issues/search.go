package issues

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// IssueQuery selects and orders a project's issues. ParseIssueSearch builds
// one from Sentry's search syntax; the dashboard may also fill it directly.
type IssueQuery struct {
	// Statuses keeps issues in any of these (is:...): unresolved, resolved,
	// ignored, regressed. Empty keeps every status.
	Statuses []string
	// NotStatuses drops issues in any of these (!is:...).
	NotStatuses []string
	// Filters are key:value terms, all of which must hold.
	Filters []IssueFilter
	// Text terms must each occur in the title or the culprit (case-insensitive).
	Text []string
	// Sort is date (last seen, the default), new (first seen), freq (events)
	// or user (users affected).
	Sort string
	// Limit is the page size: 1 to 100, 0 means 25.
	Limit int
	// Cursor is an opaque cursor from a previous page; "" is the first page.
	Cursor string
	// Me is the signed-in user's id, for assigned:me.
	Me int64
}

// IssueFilter is one key:value term. Value may contain * wildcards.
// Keys: level, environment, release, user.email, browser.name, has (Value
// is a tag key), assigned (me, none, an email, #team-slug, user:<id> or
// team:<id>) and any tag key.
type IssueFilter struct {
	Key    string
	Value  string
	Negate bool
}

// Issue sort orders, in Sentry's names.
const (
	SortDate = "date" // last seen
	SortNew  = "new"  // first seen
	SortFreq = "freq" // events
	SortUser = "user" // users affected
)

// NormalizeIssueSort maps Sentry's and Faultline's sort names to one of the
// Sort constants; "" is SortDate.
func NormalizeIssueSort(s string) (string, error) {
	switch strings.ToLower(s) {
	case "", "date", "last_seen", "lastseen":
		return SortDate, nil
	case "new", "first_seen", "firstseen":
		return SortNew, nil
	case "freq", "events", "times_seen", "count":
		return SortFreq, nil
	case "user", "users", "users_seen", "usercount":
		return SortUser, nil
	}
	return "", fmt.Errorf("%w: sort: want date, new, freq or user, not %q", ErrInvalid, clipForError(s))
}

// issueStatuses are the is: values.
var issueStatuses = map[string]string{
	"unresolved": "unresolved", "resolved": "resolved", "ignored": "ignored", "archived": "ignored", "muted": "ignored",
	"regressed": "regressed",
}

const (
	maxSearchLen   = 2000
	maxSearchTerms = 30
	maxTermLen     = 200
)

// ParseIssueSearch reads a Sentry-style search: whitespace-separated terms,
// each key:value (is:unresolved, level:error, release:1.2, environment:prod,
// user.email:x, browser.name:Chrome, has:key, any tag key:value), optionally
// negated with a leading !, or free text. Values and free text may be
// double-quoted to hold spaces ("a b", key:"a b"). Errors wrap ErrInvalid.
func ParseIssueSearch(s string) (IssueQuery, error) {
	var q IssueQuery
	if len(s) > maxSearchLen {
		return q, fmt.Errorf("%w: the search is longer than %d bytes", ErrInvalid, maxSearchLen)
	}
	if !utf8.ValidString(s) {
		return q, fmt.Errorf("%w: the search is not UTF-8", ErrInvalid)
	}
	terms, err := splitSearch(s)
	if err != nil {
		return q, err
	}
	if len(terms) > maxSearchTerms {
		return q, fmt.Errorf("%w: the search has more than %d terms", ErrInvalid, maxSearchTerms)
	}
	for _, t := range terms {
		if len(t.key) > maxTermLen || len(t.value) > maxTermLen {
			return q, fmt.Errorf("%w: a search term is longer than %d bytes", ErrInvalid, maxTermLen)
		}
		if t.key == "" {
			if t.negate {
				return q, fmt.Errorf("%w: negation needs key:value, not free text (%q)", ErrInvalid, clipForError(t.value))
			}
			q.Text = append(q.Text, t.value)
			continue
		}
		key := strings.ToLower(t.key)
		switch key {
		case "is":
			if v := strings.ToLower(t.value); v == "unassigned" || v == "assigned" {
				// is:unassigned is assigned:none; is:assigned is !assigned:none.
				q.Filters = append(q.Filters, IssueFilter{Key: "assigned", Value: "none", Negate: t.negate != (v == "assigned")})
				continue
			}
			st, ok := issueStatuses[strings.ToLower(t.value)]
			if !ok {
				return q, fmt.Errorf("%w: is: want unresolved, resolved, ignored, regressed, assigned or unassigned, not %q", ErrInvalid, clipForError(t.value))
			}
			if t.negate {
				q.NotStatuses = append(q.NotStatuses, st)
			} else {
				q.Statuses = append(q.Statuses, st)
			}
			continue
		case "message", "title":
			if t.negate {
				return q, fmt.Errorf("%w: %s: cannot be negated", ErrInvalid, key)
			}
			q.Text = append(q.Text, t.value)
			continue
		case "sort":
			if q.Sort, err = NormalizeIssueSort(t.value); err != nil {
				return q, err
			}
			continue
		case "assigned", "assigned_to":
			key = "assigned"
			if strings.EqualFold(t.value, "me") || strings.EqualFold(t.value, "none") {
				t.value = strings.ToLower(t.value)
			}
		case "user.email", "level", "environment", "release", "has", "browser.name":
		default:
			key = t.key // tag keys are case-sensitive
			if tag, ok := explicitTagKey(t.key); ok {
				key = tag // tags[key]:value names a tag even when its key is a keyword
			}
		}
		if t.value == "" {
			return q, fmt.Errorf("%w: %s: needs a value", ErrInvalid, clipForError(t.key))
		}
		q.Filters = append(q.Filters, IssueFilter{Key: key, Value: t.value, Negate: t.negate})
	}
	return q, nil
}

// explicitTagKey reads Sentry's tags[key] form of a search key.
func explicitTagKey(k string) (string, bool) {
	if len(k) > len("tags[]") && strings.EqualFold(k[:5], "tags[") && k[len(k)-1] == ']' {
		return k[5 : len(k)-1], true
	}
	return "", false
}

// IsSearchKeyword reports whether a tag key would be read as one of the
// search's own keywords (is:, has:, sort:, …) or as the tags[key] form, so a
// filter on such a tag must be written tags[key]:value.
func IsSearchKeyword(key string) bool {
	switch strings.ToLower(key) {
	case "is", "message", "title", "sort", "assigned", "assigned_to", "has":
		return true
	}
	_, ok := explicitTagKey(key)
	return ok
}

type searchTerm struct {
	negate     bool
	key, value string
}

var errUnclosedQuote = fmt.Errorf("%w: unclosed quote in the search", ErrInvalid)

// splitSearch cuts s into terms: [!]key:value, [!]key:"quoted value",
// "quoted text" or text.
func splitSearch(s string) ([]searchTerm, error) {
	var out []searchTerm
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return out, nil
		}
		var t searchTerm
		start := i
		if s[i] == '"' {
			v, n, err := quoted(s[i:])
			if err != nil {
				return nil, err
			}
			i += n
			t.value = v
		} else {
			for i < len(s) && !isSpace(s[i]) && s[i] != ':' && s[i] != '"' {
				i++
			}
			word := s[start:i]
			if i < len(s) && s[i] == ':' && word != "" && word != "!" {
				if word[0] == '!' {
					t.negate, word = true, word[1:]
				}
				t.key = word
				i++
				if i < len(s) && s[i] == '"' {
					v, n, err := quoted(s[i:])
					if err != nil {
						return nil, err
					}
					i += n
					t.value = v
				} else {
					vs := i
					for i < len(s) && !isSpace(s[i]) {
						i++
					}
					t.value = s[vs:i]
				}
			} else {
				// free text up to the next space, colons and quotes included
				for i < len(s) && !isSpace(s[i]) {
					i++
				}
				t.value = s[start:i]
			}
		}
		if t.key == "" && t.value == "" {
			continue
		}
		out = append(out, t)
	}
}

// quoted reads a double-quoted string at the start of s, with \" and \\
// escapes, and returns it and the bytes consumed.
func quoted(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
				i++
			}
			b.WriteByte(s[i])
		case '"':
			return b.String(), i + 1, nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, errUnclosedQuote
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func clipForError(s string) string {
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return strings.ToValidUTF8(s, "")
}

// String writes q back in search syntax, for links that keep the filters.
func (q IssueQuery) String() string {
	var parts []string
	for _, st := range q.Statuses {
		parts = append(parts, "is:"+st)
	}
	for _, st := range q.NotStatuses {
		parts = append(parts, "!is:"+st)
	}
	for _, f := range q.Filters {
		p := f.Key + ":" + quoteIfNeeded(f.Value)
		if f.Negate {
			p = "!" + p
		}
		parts = append(parts, p)
	}
	for _, t := range q.Text {
		parts = append(parts, quoteIfNeeded(t))
	}
	return strings.Join(parts, " ")
}

func quoteIfNeeded(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\r\n\":\\") && s[0] != '!' {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

var errBadCursor = errors.New("invalid cursor")
