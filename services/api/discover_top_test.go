package api_test

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/faultline/faultline/libs/accounts"
)

// topSeries is one series of a top-N answer.
type topSeries struct {
	Data  [][]any `json:"data"`
	Order int     `json:"order"`
	Start int64   `json:"start"`
	End   int64   `json:"end"`
}

func (s topSeries) total() float64 {
	sum := 0.0
	for _, p := range s.Data {
		sum += p[1].([]any)[0].(map[string]any)["count"].(float64)
	}
	return sum
}

// topSummary is "key#order=total" per series, by order.
func topSummary(m map[string]topSeries) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]].Order < m[keys[j]].Order })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s#%d=%v", k, m[k].Order, m[k].total()))
	}
	return strings.Join(parts, " ")
}

func statsURL(params ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		v.Add(params[i], params[i+1])
	}
	return "/api/0/organizations/acme/events-stats/?" + v.Encode()
}

// TestDiscoverTopEvents: events-stats with topEvents answers one series per
// top group of the field= columns, keyed by their values joined with ","
// and ranked by orderby, plus Other for the rest (left out with
// excludeOther=1, absent when nothing is left), from the rows the real
// analytics role wrote; the caller's projects only.
func TestDiscoverTopEvents(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	d := e.discoverData(f, e.startAnalytics())
	owner := e.session(f.users["owner"])
	get := func(c *client, params ...string) map[string]topSeries {
		t.Helper()
		res := c.do("GET", statsURL(append([]string{"statsPeriod", "24h", "interval", "1h"}, params...)...), nil)
		if res.status != 200 {
			t.Fatalf("%v: %d %s", params, res.status, res.body)
		}
		var m map[string]topSeries
		res.json(t, &m)
		for k, s := range m {
			if len(s.Data) < 24 || s.Start%3600 != 0 || s.End <= s.Start {
				t.Errorf("series %q: %d points from %d to %d", k, len(s.Data), s.Start, s.End)
			}
		}
		return m
	}
	top2 := []string{"topEvents", "2", "field", "transaction", "field", "count()", "orderby", "-count()", "yAxis", "count()"}
	for name, tc := range map[string]struct {
		params []string
		want   string
	}{
		"top two and Other":    {top2, "GET /checkout#0=4 POST /pay#1=3 Other#2=3"},
		"excludeOther":         {append(top2, "excludeOther", "1"), "GET /checkout#0=4 POST /pay#1=3"},
		"all groups, no Other": {[]string{"topEvents", "5", "field", "transaction", "field", "count()", "orderby", "-count()"}, "GET /checkout#0=4 POST /pay#1=3 GET /home#2=2 POST /charge#3=1"},
		"ascending":            {[]string{"topEvents", "1", "field", "transaction", "field", "count()", "orderby", "count()"}, "POST /charge#0=1 Other#1=9"},
		"two columns":          {[]string{"topEvents", "1", "field", "transaction", "field", "release", "field", "count()", "orderby", "-count()"}, "r1,GET /checkout#0=4 Other#1=6"},
		"filtered":             {[]string{"topEvents", "2", "field", "environment", "field", "count()", "orderby", "environment", "query", "transaction:\"GET /home\""}, "prod#0=1 staging#1=1"},
		"one project":          {append(top2, "project", fmt.Sprint(d.api.ID)), "POST /pay#0=3 POST /charge#1=1"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := topSummary(get(owner, tc.params...)); got != tc.want {
				t.Errorf("got %s\nwant %s", got, tc.want)
			}
		})
	}

	t.Run("several yAxis", func(t *testing.T) {
		res := owner.do("GET", statsURL("statsPeriod", "24h", "topEvents", "1", "field", "transaction", "field", "count()", "orderby", "-count()",
			"yAxis", "count()", "yAxis", "p95()"), nil)
		var m map[string]struct {
			Order int       `json:"order"`
			Count topSeries `json:"count()"`
			P95   topSeries `json:"p95()"`
		}
		res.json(t, &m)
		c, ok := m["GET /checkout"]
		if !ok || c.Order != 0 || c.Count.total() != 4 || c.P95.total() < 380 || m["Other"].Order != 1 || m["Other"].Count.total() != 6 {
			t.Errorf("several yAxis: %s", res.body)
		}
	})

	t.Run("project-restricted token", func(t *testing.T) {
		_, tok, err := e.store.CreateToken(context.Background(), accounts.NewToken{UserID: f.users["member"].ID, Scopes: []string{"read"},
			OrgID: f.acme.ID, ProjectID: f.project.ID})
		if err != nil {
			t.Fatal(err)
		}
		if got := topSummary(get(e.withToken(tok), top2...)); got != "GET /checkout#0=4 GET /home#1=2" {
			t.Errorf("web token: %s, want web's transactions only", got)
		}
	})

	t.Run("no rows is the plain series", func(t *testing.T) {
		res := owner.do("GET", statsURL("statsPeriod", "24h", "topEvents", "3", "field", "transaction", "field", "count()", "query", "release:none"), nil)
		var s topSeries
		res.json(t, &s)
		if res.status != 200 || len(s.Data) == 0 || s.total() != 0 {
			t.Errorf("no rows: %d %s", res.status, res.body)
		}
	})

	t.Run("bad input is 400 naming it", func(t *testing.T) {
		for _, tc := range []struct {
			params []string
			want   string
		}{
			{[]string{"topEvents", "11", "field", "transaction"}, "topEvents"},
			{[]string{"topEvents", "x", "field", "transaction"}, "topEvents"},
			{[]string{"topEvents", "2"}, "field"},
			{[]string{"topEvents", "2", "field", "count()"}, "column"},
			{[]string{"topEvents", "2", "field", "transaction", "orderby", "-p99()x"}, "orderby"},
			{[]string{"topEvents", "2", "field", "transaction", "field", "secret"}, "secret"},
			{[]string{"topEvents", "2", "field", "timestamp"}, "timestamp"},
		} {
			res := owner.do("GET", statsURL(tc.params...), nil)
			if res.status != 400 || !strings.Contains(string(res.body), tc.want) {
				t.Errorf("%v: %d %s, want 400 naming %s", tc.params, res.status, res.body, tc.want)
			}
		}
	})
}
