package issues_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/faultline/faultline/libs/issues"
)

func TestParseIssueSearch(t *testing.T) {
	f := func(key, value string) issues.IssueFilter { return issues.IssueFilter{Key: key, Value: value} }
	not := func(key, value string) issues.IssueFilter {
		return issues.IssueFilter{Key: key, Value: value, Negate: true}
	}
	tests := []struct {
		in   string
		want issues.IssueQuery
	}{
		{"", issues.IssueQuery{}},
		{"   ", issues.IssueQuery{}},
		{"is:unresolved", issues.IssueQuery{Statuses: []string{"unresolved"}}},
		{"is:Resolved is:ignored", issues.IssueQuery{Statuses: []string{"resolved", "ignored"}}},
		{"is:archived", issues.IssueQuery{Statuses: []string{"ignored"}}},
		{"!is:regressed", issues.IssueQuery{NotStatuses: []string{"regressed"}}},
		{"is:unresolved level:error release:1.2 environment:prod user.email:x@example.com browser.name:Chrome",
			issues.IssueQuery{Statuses: []string{"unresolved"}, Filters: []issues.IssueFilter{f("level", "error"), f("release", "1.2"),
				f("environment", "prod"), f("user.email", "x@example.com"), f("browser.name", "Chrome")}}},
		{"!level:info", issues.IssueQuery{Filters: []issues.IssueFilter{not("level", "info")}}},
		{"LEVEL:error", issues.IssueQuery{Filters: []issues.IssueFilter{f("level", "error")}}},
		{"Server:web-1", issues.IssueQuery{Filters: []issues.IssueFilter{f("Server", "web-1")}}},
		{`server:"web 1"`, issues.IssueQuery{Filters: []issues.IssueFilter{f("server", "web 1")}}},
		{`release:1.*`, issues.IssueQuery{Filters: []issues.IssueFilter{f("release", "1.*")}}},
		{`has:browser !has:user`, issues.IssueQuery{Filters: []issues.IssueFilter{f("has", "browser"), not("has", "user")}}},
		{`url:http://x.test/a`, issues.IssueQuery{Filters: []issues.IssueFilter{f("url", "http://x.test/a")}}},
		{"TypeError undefined", issues.IssueQuery{Text: []string{"TypeError", "undefined"}}},
		{`"x is undefined" level:error`, issues.IssueQuery{Text: []string{"x is undefined"}, Filters: []issues.IssueFilter{f("level", "error")}}},
		{`"say \"hi\""`, issues.IssueQuery{Text: []string{`say "hi"`}}},
		{`message:"disk full"`, issues.IssueQuery{Text: []string{"disk full"}}},
		{"sort:freq level:error", issues.IssueQuery{Sort: issues.SortFreq, Filters: []issues.IssueFilter{f("level", "error")}}},
		{"!notakey", issues.IssueQuery{Text: []string{"!notakey"}}},
		{"tags[is]:0 !tags[Sort]:x TAGS[has]:y", issues.IssueQuery{Filters: []issues.IssueFilter{f("is", "0"), not("Sort", "x"), f("has", "y")}}},
		{"tags[server]:web-1", issues.IssueQuery{Filters: []issues.IssueFilter{f("server", "web-1")}}},
		{"assigned:Me is:Unassigned", issues.IssueQuery{Filters: []issues.IssueFilter{f("assigned", "me"), f("assigned", "none")}}},
		{"!is:unassigned is:assigned", issues.IssueQuery{Filters: []issues.IssueFilter{not("assigned", "none"), not("assigned", "none")}}},
		{"assigned:A@x.test assigned_to:#backend !assigned:team:3", issues.IssueQuery{Filters: []issues.IssueFilter{
			f("assigned", "A@x.test"), f("assigned", "#backend"), not("assigned", "team:3")}}},
		{":leading", issues.IssueQuery{Text: []string{":leading"}}},
		{"a\tb\nc", issues.IssueQuery{Text: []string{"a", "b", "c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := issues.ParseIssueSearch(tt.in)
			if err != nil {
				t.Fatalf("ParseIssueSearch(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseIssueSearch(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseIssueSearchErrors(t *testing.T) {
	long := make([]byte, 3000)
	for i := range long {
		long[i] = 'a'
	}
	for _, in := range []string{
		"is:maybe",
		"level:",
		`"unclosed`,
		`server:"unclosed`,
		"sort:random",
		"!message:x",
		string(long),
		"\xff\xfe",
	} {
		t.Run(in[:min(len(in), 20)], func(t *testing.T) {
			_, err := issues.ParseIssueSearch(in)
			if err == nil {
				t.Fatalf("ParseIssueSearch(%q): no error", in)
			}
			if !errors.Is(err, issues.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestNormalizeIssueSort(t *testing.T) {
	for in, want := range map[string]string{"": issues.SortDate, "date": issues.SortDate, "last_seen": issues.SortDate,
		"new": issues.SortNew, "first_seen": issues.SortNew, "freq": issues.SortFreq, "events": issues.SortFreq,
		"user": issues.SortUser, "users": issues.SortUser} {
		got, err := issues.NormalizeIssueSort(in)
		if err != nil || got != want {
			t.Errorf("NormalizeIssueSort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// FuzzParseIssueSearch: any input parses or fails with ErrInvalid, never
// panics, and what parses writes back (String) to a search that parses to
// the same query.
func FuzzParseIssueSearch(f *testing.F) {
	for _, s := range []string{"is:unresolved level:error", `!browser.name:"Chrome 1" "x y"`, `a:"b\"c" \\`,
		"release:1.* has:user !is:ignored", "::: !:x", `"`, "sort:new text"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := issues.ParseIssueSearch(s)
		if err != nil {
			if !errors.Is(err, issues.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		q.Sort = ""
		again, err := issues.ParseIssueSearch(q.String())
		if err != nil {
			t.Fatalf("String() %q of %q does not parse: %v", q.String(), s, err)
		}
		if !reflect.DeepEqual(again, q) {
			t.Fatalf("round trip of %q via %q:\n got %+v\nwant %+v", s, q.String(), again, q)
		}
	})
}
