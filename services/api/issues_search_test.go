package api_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/faultline/faultline/services/api"
)

func TestParseIssueSearch(t *testing.T) {
	f := func(key, value string) api.IssueFilter { return api.IssueFilter{Key: key, Value: value} }
	not := func(key, value string) api.IssueFilter { return api.IssueFilter{Key: key, Value: value, Negate: true} }
	tests := []struct {
		in   string
		want api.IssueQuery
	}{
		{"", api.IssueQuery{}},
		{"   ", api.IssueQuery{}},
		{"is:unresolved", api.IssueQuery{Statuses: []string{"unresolved"}}},
		{"is:Resolved is:ignored", api.IssueQuery{Statuses: []string{"resolved", "ignored"}}},
		{"is:archived", api.IssueQuery{Statuses: []string{"ignored"}}},
		{"!is:regressed", api.IssueQuery{NotStatuses: []string{"regressed"}}},
		{"is:unresolved level:error release:1.2 environment:prod user.email:x@example.com browser.name:Chrome",
			api.IssueQuery{Statuses: []string{"unresolved"}, Filters: []api.IssueFilter{f("level", "error"), f("release", "1.2"),
				f("environment", "prod"), f("user.email", "x@example.com"), f("browser.name", "Chrome")}}},
		{"!level:info", api.IssueQuery{Filters: []api.IssueFilter{not("level", "info")}}},
		{"LEVEL:error", api.IssueQuery{Filters: []api.IssueFilter{f("level", "error")}}},
		{"Server:web-1", api.IssueQuery{Filters: []api.IssueFilter{f("Server", "web-1")}}},
		{`server:"web 1"`, api.IssueQuery{Filters: []api.IssueFilter{f("server", "web 1")}}},
		{`release:1.*`, api.IssueQuery{Filters: []api.IssueFilter{f("release", "1.*")}}},
		{`has:browser !has:user`, api.IssueQuery{Filters: []api.IssueFilter{f("has", "browser"), not("has", "user")}}},
		{`url:http://x.test/a`, api.IssueQuery{Filters: []api.IssueFilter{f("url", "http://x.test/a")}}},
		{"TypeError undefined", api.IssueQuery{Text: []string{"TypeError", "undefined"}}},
		{`"x is undefined" level:error`, api.IssueQuery{Text: []string{"x is undefined"}, Filters: []api.IssueFilter{f("level", "error")}}},
		{`"say \"hi\""`, api.IssueQuery{Text: []string{`say "hi"`}}},
		{`message:"disk full"`, api.IssueQuery{Text: []string{"disk full"}}},
		{"sort:freq level:error", api.IssueQuery{Sort: api.SortFreq, Filters: []api.IssueFilter{f("level", "error")}}},
		{"!notakey", api.IssueQuery{Text: []string{"!notakey"}}},
		{"tags[is]:0 !tags[Sort]:x TAGS[has]:y", api.IssueQuery{Filters: []api.IssueFilter{f("is", "0"), not("Sort", "x"), f("has", "y")}}},
		{"tags[server]:web-1", api.IssueQuery{Filters: []api.IssueFilter{f("server", "web-1")}}},
		{"assigned:Me is:Unassigned", api.IssueQuery{Filters: []api.IssueFilter{f("assigned", "me"), f("assigned", "none")}}},
		{"!is:unassigned is:assigned", api.IssueQuery{Filters: []api.IssueFilter{not("assigned", "none"), not("assigned", "none")}}},
		{"assigned:A@x.test assigned_to:#backend !assigned:team:3", api.IssueQuery{Filters: []api.IssueFilter{
			f("assigned", "A@x.test"), f("assigned", "#backend"), not("assigned", "team:3")}}},
		{":leading", api.IssueQuery{Text: []string{":leading"}}},
		{"a\tb\nc", api.IssueQuery{Text: []string{"a", "b", "c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := api.ParseIssueSearch(tt.in)
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
			_, err := api.ParseIssueSearch(in)
			if err == nil {
				t.Fatalf("ParseIssueSearch(%q): no error", in)
			}
			if !errors.Is(err, api.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestNormalizeIssueSort(t *testing.T) {
	for in, want := range map[string]string{"": api.SortDate, "date": api.SortDate, "last_seen": api.SortDate,
		"new": api.SortNew, "first_seen": api.SortNew, "freq": api.SortFreq, "events": api.SortFreq,
		"user": api.SortUser, "users": api.SortUser} {
		got, err := api.NormalizeIssueSort(in)
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
		q, err := api.ParseIssueSearch(s)
		if err != nil {
			if !errors.Is(err, api.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		q.Sort = ""
		again, err := api.ParseIssueSearch(q.String())
		if err != nil {
			t.Fatalf("String() %q of %q does not parse: %v", q.String(), s, err)
		}
		if !reflect.DeepEqual(again, q) {
			t.Fatalf("round trip of %q via %q:\n got %+v\nwant %+v", s, q.String(), again, q)
		}
	})
}
