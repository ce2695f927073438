package ownership

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	raw := `# payments own their code
path:src/payments/* #payments Alice@Example.com

url:https://shop.example.com/checkout/* #checkout
tags.service:billing #billing #payments
module:com.example.billing.* bob@example.com
codeowners:src/ui/* #frontend
path:"src/my dir/*" #ui`
	rules, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{
		{2, "path", "src/payments/*", []Owner{{OwnerTeam, "payments"}, {OwnerUser, "alice@example.com"}}},
		{4, "url", "https://shop.example.com/checkout/*", []Owner{{OwnerTeam, "checkout"}}},
		{5, "tags.service", "billing", []Owner{{OwnerTeam, "billing"}, {OwnerTeam, "payments"}}},
		{6, "module", "com.example.billing.*", []Owner{{OwnerUser, "bob@example.com"}}},
		{7, "codeowners", "src/ui/*", []Owner{{OwnerTeam, "frontend"}}},
		{8, "path", "src/my dir/*", []Owner{{OwnerTeam, "ui"}}},
	}
	if !reflect.DeepEqual(rules, want) {
		t.Errorf("got %+v\nwant %+v", rules, want)
	}
	if got := Owners(rules); len(got) != 7 || got[0].String() != "#payments" || got[1].String() != "alice@example.com" {
		t.Errorf("owners %v", got)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tt := range []struct{ raw, msg string }{
		{"path:src/*", "line 1: rule path:src/* has no owner"},
		{"\nfile:src/* #a", "line 2: unknown matcher \"file\""},
		{"path src/* #a", "line 1: want matcher:pattern"},
		{"path:src/* team", "line 1: owner \"team\""},
		{"path:src/* #", "line 1: owner \"#\""},
		{`path:"src/* #a`, "line 1: unterminated"},
		{"tags.:x #a", "unknown matcher"},
		{"path: #a", "empty pattern"},
		{strings.Repeat("x", MaxBytes+1), "longer than"},
	} {
		_, err := Parse(tt.raw)
		var pe *Error
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Parse(%.40q) = %v, want an error containing %q", tt.raw, err, tt.msg)
		}
	}
}

// FuzzParse: any text parses into rules that each have a known matcher, a
// pattern and owners, or is refused with an Error; never a panic.
func FuzzParse(f *testing.F) {
	f.Add("path:src/* #team a@b.c\n# comment\nurl:\"x y\" #t")
	f.Add("tags.k:v #a")
	f.Add(`path:"a\"b\\" #t`)
	f.Fuzz(func(t *testing.T, raw string) {
		rules, err := Parse(raw)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		for _, r := range rules {
			if r.Pattern == "" || len(r.Owners) == 0 || r.Line < 1 {
				t.Fatalf("rule %+v", r)
			}
			if r.Type != MatchPath && r.Type != MatchModule && r.Type != MatchURL && r.Type != MatchCodeowners && !strings.HasPrefix(r.Type, MatchTagPrefix) {
				t.Fatalf("rule type %q", r.Type)
			}
		}
	})
}
