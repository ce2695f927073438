package analyticsquery

import (
	"slices"
	"testing"
)

func TestQuoteRoundTrips(t *testing.T) {
	for _, v := range []string{"GET /checkout", `say "hi"`, `a\b`, "x:y z", "<script>alert(1)</script>", "\xff\xfe", "tab\there", ""} {
		terms, err := ParseSearch("transaction:" + Quote(v) + " free")
		if v == "" {
			// An empty value is not a term: the page never links to one.
			if err == nil {
				t.Errorf("empty value: got %+v, want an error", terms)
			}
			continue
		}
		if err != nil || len(terms) != 2 || terms[0] != (Term{Key: "transaction", Value: v}) || terms[1].Value != "free" {
			t.Errorf("%q: got %+v, %v", v, terms, err)
		}
	}
}

// FuzzQuote: any transaction name quoted is read back as exactly one term
// holding it.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"GET /x", `"`, `\`, "a b:c", "\x00", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if v == "" || len(Quote(v)) > 1900 {
			return
		}
		terms, err := ParseSearch("transaction:" + Quote(v))
		if err != nil || len(terms) != 1 || terms[0].Value != v || terms[0].Key != "transaction" || terms[0].Negated {
			t.Fatalf("%q: got %+v, %v", v, terms, err)
		}
	})
}

func TestFieldNames(t *testing.T) {
	cols, fns := FieldNames(Transactions)
	if !slices.Contains(cols, "transaction") || !slices.Contains(fns, "p95()") || slices.Contains(cols, "p95()") || !slices.IsSorted(fns) {
		t.Errorf("transactions: columns %v, functions %v", cols, fns)
	}
	if _, fns := FieldNames(Errors); slices.Contains(fns, "p95()") {
		t.Errorf("errors allow p95(): %v", fns)
	}
	if !IsFunction(Transactions, " failure_rate() ") || IsFunction(Transactions, "transaction") || IsFunction(Errors, "p95()") {
		t.Error("IsFunction")
	}
}
