package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/spike"
	"github.com/faultline/faultline/libs/spike/spiketest"
	"github.com/faultline/faultline/streams"
)

// TestSettingsShowSpikeProtection: a project's settings show its spike
// protection from the gateways' counts in the limits bucket: on, the
// baseline, the cap, this minute's errors and what was dropped; then off
// once its switch is.
func TestSettingsShowSpikeProtection(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner := e.user("owner@acme.test", false)
	p := e.project("acme", "backend", map[*accounts.User]string{owner: "owner"})
	settings := "/settings/acme/projects/backend/"
	b := e.signIn("owner@acme.test")
	if strings.Contains(b.get(settings).body, "Spike protection") {
		t.Error("spike protection shown before the dashboard can read the counts")
	}

	kv, err := e.nc.JS.KeyValue(ctx, streams.LimitsBucket)
	if err != nil {
		t.Fatal(err)
	}
	cfg, now := spiketest.Days()
	rec := spike.Record{First: now - 9}
	for m := now - 5; m < now; m++ {
		rec.Counts = append(rec.Counts, spike.Count{Minute: m, Admitted: 4})
	}
	rec.Counts = append(rec.Counts, spike.Count{Minute: now, Admitted: 40, Dropped: 13})
	spiketest.Put(t, kv, p.ID, "gw1", rec)
	e.dash.SetSpikes(kv, cfg)

	body := b.get(settings).body
	for _, want := range []string{`<h2 id="spike">Spike protection</h2>`, "On: when this project",
		"<dd>4.0 errors per minute", "<dd>40 errors per minute", "<dt>This minute</dt><dd>40 errors</dd>",
		"<dt>Dropped in the last 5 minutes</dt><dd>13 errors</dd>"} {
		if !strings.Contains(body, want) {
			t.Errorf("settings lack %q", want)
		}
	}

	org, _, err := e.store.OrgRole(ctx, "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := e.store.OrgProject(ctx, org.ID, "backend")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpdateProject(ctx, pr, accounts.ProjectUpdate{Settings: accounts.SettingsUpdate{
		Options: map[string]any{accounts.OptionSpikeProtectionDisabled: true}}}); err != nil {
		t.Fatal(err)
	}
	if body := b.get(settings).body; !strings.Contains(body, "Off for this project") {
		t.Error("settings do not say spike protection is off for the project")
	}
}
