package sentrycli

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestSentryCLIMonitorsRun: `sentry-cli monitors run` wraps a succeeding
// and a failing command, exits as the command did, and its check-ins (the
// monitor created from --schedule) are stored and read back through the
// monitors API.
func TestSentryCLIMonitorsRun(t *testing.T) {
	p := srv.CreateProjectT(t, "crons")
	_, token := ownerToken(t, fmt.Sprintf("crons-%d@example.test", p.ID), "read")
	env := []string{"SENTRY_URL=" + srv.URL, "SENTRY_DSN=" + p.DSN, "SENTRY_LOG_LEVEL=warn"}
	slug := fmt.Sprintf("backup-%d", p.ID)

	if out, code := cli(t, env, "monitors", "run", "-s", "*/5 * * * *", "--max-runtime", "3", "--failure-issue-threshold", "2",
		slug, "--", "sh", "-c", "sleep 0.2"); code != 0 {
		t.Fatalf("a succeeding command: exit %d\n%s", code, out)
	}
	if out, code := cli(t, env, "monitors", "run", "-s", "*/5 * * * *", "--max-runtime", "3", "--failure-issue-threshold", "2",
		slug, "--", "sh", "-c", "exit 3"); code != 3 {
		t.Fatalf("a command that exits 3: sentry-cli exits %d\n%s", code, out)
	}

	path := "/api/0/organizations/e2e/monitors/" + slug + "/"
	var statuses []string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var cis []struct {
			Status      string `json:"status"`
			Environment string `json:"environment"`
			Duration    *int64 `json:"duration"`
		}
		if api(t, token, "GET", path+"checkins/", "", &cis) != 200 {
			continue
		}
		statuses = statuses[:0]
		for _, ci := range cis {
			statuses = append(statuses, ci.Status+"/"+ci.Environment+fmt.Sprint("/", ci.Duration != nil))
		}
		sort.Strings(statuses)
		if strings.Join(statuses, " ") == "error/production/true ok/production/true" {
			break
		}
	}
	if got := strings.Join(statuses, " "); got != "error/production/true ok/production/true" {
		t.Fatalf("check-ins stored: %q, want one ok and one error, each with its duration", got)
	}
	var m struct {
		Slug   string `json:"slug"`
		Health string `json:"health"`
		Config struct {
			ScheduleType string `json:"schedule_type"`
			Schedule     string `json:"schedule"`
			MaxRuntime   int    `json:"max_runtime"`
			FailureAfter int    `json:"failure_issue_threshold"`
		} `json:"config"`
	}
	if code := api(t, token, "GET", path, "", &m); code != 200 {
		t.Fatalf("monitor: %d", code)
	}
	if m.Health != "error" || m.Config.ScheduleType != "crontab" || m.Config.Schedule != "*/5 * * * *" || m.Config.MaxRuntime != 3 || m.Config.FailureAfter != 2 {
		t.Errorf("monitor: %+v", m)
	}
}
