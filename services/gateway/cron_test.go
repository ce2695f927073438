package gateway_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/monitors"
	"github.com/faultline/faultline/streams"
)

// TestCronEndpoint: an HTTP check-in, the key in its path, is stored on
// ingest.<project>.check_in as a check_in item; project 0 is the key's; a
// wrong key, a key of another project, two keys or a bad check-in are
// refused with a 4xx and nothing is stored.
func TestCronEndpoint(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	g := c.startGateway(defaultOptions(t))

	get := func(path string, header http.Header) *response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, g.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		return do(t, req)
	}
	for _, pid := range []int64{project, 0} {
		res := get(fmt.Sprintf("/api/%d/cron/Nightly Job/%s/?status=in_progress&environment=prod", pid, key), nil)
		if res.status != http.StatusOK {
			t.Fatalf("project %d: %d %s", pid, res.status, res.body)
		}
		m := c.last()
		if m.Subject != fmt.Sprintf("ingest.%d.check_in", project) || m.Header.Get(streams.HeaderEndpoint) != "cron" {
			t.Errorf("subject %q endpoint %q", m.Subject, m.Header.Get(streams.HeaderEndpoint))
		}
		env, err := envelope.Parse(m.Data, envelope.DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		ci, err := monitors.ParseCheckIn(env.Items[0].Payload)
		if err != nil || len(env.Items) != 1 || ci.Slug != "nightly-job" || ci.Status != "in_progress" || ci.Environment != "prod" {
			t.Errorf("stored check-in %+v (%v): %s", ci, err, m.Data)
		}
	}
	res := g.post(t, fmt.Sprintf("/api/%d/cron/backup/%s/", project, key),
		[]byte(`{"status":"ok","monitor_config":{"schedule":{"type":"crontab","value":"0 * * * *"},"max_runtime":5}}`), nil)
	if res.status != http.StatusOK {
		t.Fatalf("POST: %d %s", res.status, res.body)
	}
	env, _ := envelope.Parse(c.last().Data, envelope.DefaultLimits)
	if ci, err := monitors.ParseCheckIn(env.Items[0].Payload); err != nil || ci.Config == nil || ci.Config.Crontab != "0 * * * *" || ci.Config.MaxRuntime != 5 {
		t.Errorf("POST check-in: %+v %v", ci, err)
	}

	stored := c.count()
	for _, tc := range []struct {
		path   string
		header http.Header
		status int
	}{
		{fmt.Sprintf("/api/%d/cron/x/%s/?status=ok", project, "f00d"), nil, http.StatusUnauthorized},
		{fmt.Sprintf("/api/%d/cron/x/%s/?status=ok", project, otherKey), nil, http.StatusForbidden},
		{fmt.Sprintf("/api/%d/cron/x/%s/?status=ok", project, disabledKey), nil, http.StatusForbidden},
		{fmt.Sprintf("/api/%d/cron/x/%s/?status=ok", project, key), http.Header{"X-Sentry-Auth": {authHeader(otherKey)}}, http.StatusUnauthorized},
		{fmt.Sprintf("/api/0/cron/x/%s/?status=ok", "f00d"), nil, http.StatusNotFound},
		{fmt.Sprintf("/api/%d/cron/x/%s/?status=done", project, key), nil, http.StatusBadRequest},
		{fmt.Sprintf("/api/%d/cron/x/%s/", project, key), nil, http.StatusBadRequest},
		{fmt.Sprintf("/api/%d/cron/x/%s/?status=ok&check_in_id=12", project, key), nil, http.StatusBadRequest},
	} {
		res := get(tc.path, tc.header)
		if res.status != tc.status {
			t.Errorf("%s: %d, want %d: %s", tc.path, res.status, tc.status, res.body)
		} else {
			res.detail(t)
		}
	}
	if c.count() != stored {
		t.Errorf("refused check-ins were stored: %d messages, want %d", c.count(), stored)
	}
}
