package streams_test

import (
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"

	"github.com/faultline/faultline/streams"
)

func TestGroupedChanges(t *testing.T) {
	received := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		set     bool
		changes []string
		told    bool
		want    string
	}{
		{set: false, told: false, want: ""},
		{set: true, told: true, want: ""},
		{set: true, changes: []string{streams.ChangeCreated}, told: true, want: "created"},
		{set: true, changes: []string{streams.ChangeRegressed, streams.ChangeUnignored}, told: true, want: "regressed unignored"},
	} {
		h := streams.GroupedHeader("m", 1, "0123456789abcdef0123456789abcdef", 7, []string{"h"}, received)
		if c.set {
			streams.SetChanges(h, c.changes)
		}
		g, err := streams.DecodeGrouped(h, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if g.ChangesTold != c.told || strings.Join(g.Changes, " ") != c.want {
			t.Errorf("set %v %q: decoded told=%v changes=%q", c.set, c.changes, g.ChangesTold, g.Changes)
		}
	}
}

func FuzzDecodeGrouped(f *testing.F) {
	dec, _ := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(1<<20))
	enc, _ := zstd.NewWriter(nil)
	f.Add("1", "7", "2026-12-06T07:00:00Z", "created,regressed", enc.EncodeAll([]byte(`{}`), nil))
	f.Add("x", "", "", "none", []byte("not zstd"))
	f.Fuzz(func(t *testing.T, project, issue, received, changes string, body []byte) {
		h := nats.Header{streams.HeaderProject: {project}, streams.HeaderIssueID: {issue}, streams.HeaderReceived: {received},
			streams.HeaderChanges: {changes}, streams.HeaderContentEncoding: {"zstd"}}
		g, err := streams.DecodeGrouped(h, body, dec)
		if err != nil {
			return
		}
		if !g.ChangesTold || g.Received.IsZero() || (changes == "none" || changes == "") != (len(g.Changes) == 0) {
			t.Fatalf("decoded %+v from changes %q", g, changes)
		}
	})
}
