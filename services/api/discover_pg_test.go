package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/faultline/faultline/libs/accounts"
)

// TestDiscoverFromPostgres: without ClickHouse, events/ and events-stats/
// answer error counts (count(), count_unique(user) by issue, release,
// environment, ...) from the events the real grouping service stored, for
// the caller's projects only; anything else is 503 naming what needs
// CLICKHOUSE_URL.
func TestDiscoverFromPostgres(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	p := e.startGrouping()
	var evs []sdkEvent
	for i := range 3 {
		evs = append(evs, sdkEvent{excType: "CartError", excValue: "cart", function: "cart", release: "1.0", environment: "prod",
			user: map[string]any{"id": fmt.Sprint("u", i%2)}})
	}
	for range 2 {
		evs = append(evs, sdkEvent{excType: "PayError", excValue: "pay", function: "pay", release: "2.0", environment: "staging",
			user: map[string]any{"id": "u9"}})
	}
	ids := p.send(f.project.ID, evs...)
	cart, pay := p.issueOf(ids[0]), p.issueOf(ids[3])
	p.send(f.otherProj.ID, sdkEvent{excType: "CartError", excValue: "cart", function: "cart", release: "1.0", environment: "prod"},
		sdkEvent{excType: "CartError", excValue: "cart", function: "cart", release: "1.0", environment: "prod"})
	owner := e.session(f.users["owner"])

	t.Run("tables", func(t *testing.T) {
		for name, tc := range map[string]struct {
			params []string
			key    string
			want   string
		}{
			"by issue": {[]string{"field", "issue.id", "field", "count()", "field", "count_unique(user)", "dataset", "errors", "sort", "-count()"},
				"issue.id", fmt.Sprintf("%s=3/2 %s=2/1", cart, pay)},
			"by release, typed query": {[]string{"field", "release", "field", "count()", "field", "count_unique(user)", "query", "event.type:error", "sort", "release"},
				"release", "1.0=3/2 2.0=2/1"},
			"environment":   {[]string{"field", "release", "field", "count()", "field", "count_unique(user)", "dataset", "errors", "environment", "staging"}, "release", "2.0=2/1"},
			"search":        {[]string{"field", "environment", "field", "count()", "field", "count_unique(user)", "dataset", "errors", "query", "!release:2.0"}, "environment", "prod=3/2"},
			"free text":     {[]string{"field", "level", "field", "count()", "field", "count_unique(user)", "dataset", "errors", "query", "PayError"}, "level", "error=2/1"},
			"error fields":  {[]string{"field", "title", "field", "count()", "field", "count_unique(user)", "sort", "-count()", "query", "issue.id:" + pay}, "title", "PayError: pay=2/1"},
			"other project": {[]string{"field", "release", "field", "count()", "field", "count_unique(user)", "dataset", "errors", "project", "999999"}, "", "403"},
		} {
			t.Run(name, func(t *testing.T) {
				res := owner.do("GET", eventsURL(tc.params...), nil)
				if tc.want == "403" {
					if res.status != http.StatusForbidden {
						t.Errorf("%d %s, want 403", res.status, res.body)
					}
					return
				}
				rows, meta := rowsOf(t, res)
				var parts []string
				for _, r := range rows {
					parts = append(parts, fmt.Sprintf("%v=%v/%v", r[tc.key], r["count()"], r["count_unique(user)"]))
				}
				if got := strings.Join(parts, " "); got != tc.want {
					t.Errorf("got %s, want %s", got, tc.want)
				}
				if fields := meta["fields"].(map[string]any); fields["count()"] != "integer" || meta["dataset"] != "errors" {
					t.Errorf("meta %v", meta)
				}
			})
		}
	})

	t.Run("pagination", func(t *testing.T) {
		res := owner.do("GET", eventsURL("field", "issue.id", "field", "count()", "dataset", "errors", "sort", "-count()", "per_page", "1"), nil)
		rows, _ := rowsOf(t, res)
		if len(rows) != 1 || !strings.Contains(res.header.Get("Link"), `rel="next"; results="true"; cursor="0:1:0"`) {
			t.Fatalf("first page %v, Link %s", rows, res.header.Get("Link"))
		}
		rows, _ = rowsOf(t, owner.do("GET", eventsURL("field", "issue.id", "field", "count()", "dataset", "errors", "sort", "-count()", "per_page", "1", "cursor", "0:1:0"), nil))
		if len(rows) != 1 || fmt.Sprint(rows[0]["issue.id"]) != pay {
			t.Errorf("second page %v, want the pay issue", rows)
		}
	})

	t.Run("series", func(t *testing.T) {
		// Daily buckets: the events fall in one, so the users add up.
		res := owner.do("GET", "/api/0/organizations/acme/events-stats/?dataset=errors&statsPeriod=2d&interval=1d&yAxis=count()&yAxis=count_unique(user)", nil)
		if res.status != 200 {
			t.Fatalf("%d %s", res.status, res.body)
		}
		var m map[string]topSeries
		res.json(t, &m)
		if c := m["count()"]; len(c.Data) < 2 || c.total() != 5 || c.Start%86400 != 0 || m["count_unique(user)"].total() != 3 {
			t.Errorf("series: %s", res.body)
		}
		res = owner.do("GET", "/api/0/organizations/acme/events-stats/?query=event.type:error+release:1.0&statsPeriod=24h", nil)
		var s topSeries
		res.json(t, &s)
		if res.status != 200 || s.total() != 3 {
			t.Errorf("one series: %d %s", res.status, res.body)
		}
	})

	t.Run("what needs ClickHouse is 503 naming it", func(t *testing.T) {
		for u, want := range map[string]string{
			eventsURL("field", "transaction", "field", "count()", "dataset", "errors"): `field "transaction"`,
			eventsURL("field", "count()"):                                                                    `not restricted to errors`,
			eventsURL("field", "count()", "dataset", "transactions"):                                         `transactions dataset`,
			eventsURL("field", "release", "dataset", "errors"):                                               `single events`,
			eventsURL("field", "count()", "dataset", "errors", "query", "user.email:a@b.test"):               `search key "user.email"`,
			"/api/0/organizations/acme/events-stats/?dataset=errors&yAxis=p95()":                             `yAxis "p95()"`,
			"/api/0/organizations/acme/events-stats/?dataset=errors&topEvents=2&field=release&field=count()": `topEvents`,
			"/api/0/organizations/acme/events-stats/?query=event.type:transaction":                           `transactions dataset`,
			"/api/0/organizations/acme/events-trace/4bf92f3577b34da6a3ce929d0e0e4736/":                       `CLICKHOUSE_URL`,
		} {
			res := owner.do("GET", u, nil)
			var body struct{ Detail string }
			res.json(t, &body)
			if res.status != http.StatusServiceUnavailable || !strings.Contains(body.Detail, want) || !strings.Contains(body.Detail, "CLICKHOUSE_URL") {
				t.Errorf("GET %s: %d %s, want 503 naming %s and CLICKHOUSE_URL", u, res.status, res.body, want)
			}
		}
		for u, want := range map[string]string{
			eventsURL("field", "count()", "dataset", "errors", "sort", "-p95()"):        `sort`,
			eventsURL("field", "count()", "dataset", "errors", "query", "issue.id:abc"): `issue.id`,
			eventsURL("field", "count()", "dataset", "errors", "statsPeriod", "ever"):   `statsPeriod`,
		} {
			if res := owner.do("GET", u, nil); res.status != http.StatusBadRequest || !strings.Contains(string(res.body), want) {
				t.Errorf("GET %s: %d %s, want 400 naming %s", u, res.status, res.body, want)
			}
		}
	})

	t.Run("who sees what", func(t *testing.T) {
		u := eventsURL("field", "project.id", "field", "count()", "dataset", "errors")
		_, tok, err := e.store.CreateToken(context.Background(), accounts.NewToken{UserID: f.users["member"].ID, Scopes: []string{"read"},
			OrgID: f.acme.ID, ProjectID: f.project.ID})
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := rowsOf(t, e.withToken(tok).do("GET", u, nil))
		if len(rows) != 1 || rows[0]["count()"] != 5.0 || rows[0]["project.id"] != float64(f.project.ID) {
			t.Errorf("web token: %v", rows)
		}
		if res := e.session(f.users["other"]).do("GET", u, nil); res.status != http.StatusNotFound {
			t.Errorf("rival on acme: %d %s", res.status, res.body)
		}
		rows, _ = rowsOf(t, e.session(f.users["other"]).do("GET", strings.Replace(u, "/acme/", "/rival/", 1), nil))
		if len(rows) != 1 || rows[0]["count()"] != 2.0 {
			t.Errorf("rival's own: %v", rows)
		}
	})
}
