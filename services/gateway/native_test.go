package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"testing"

	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/minidump/minidumptest"
	"github.com/faultline/faultline/libs/unreal/unrealtest"
	"github.com/faultline/faultline/streams"
)

// formField is one part of a multipart upload; file names a file part.
type formField struct{ name, file, value string }

// multipartBody writes fields as multipart/form-data and returns the body
// and its Content-Type.
func multipartBody(t *testing.T, fields ...formField) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		h := textproto.MIMEHeader{}
		if f.file != "" {
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, f.name, f.file))
			h.Set("Content-Type", "application/octet-stream")
		} else {
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q`, f.name))
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f.value))
	}
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

// storedCrash reads the newest INGEST message as a crash envelope: its
// event, decoded, and its attachments by attachment type.
func storedCrash(t *testing.T, c *cluster, endpoint string) (map[string]any, map[string]envelope.Item) {
	t.Helper()
	m := c.last()
	if m.Subject != fmt.Sprintf("ingest.%d.error", project) || m.Header.Get(streams.HeaderEndpoint) != endpoint {
		t.Errorf("subject %q endpoint %q, want ingest.%d.error from %s", m.Subject, m.Header.Get(streams.HeaderEndpoint), project, endpoint)
	}
	env, err := envelope.Parse(m.Data, envelope.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	atts := map[string]envelope.Item{}
	for _, it := range env.Items {
		switch it.Type {
		case "event":
			if err := json.Unmarshal(it.Payload, &ev); err != nil {
				t.Fatal(err)
			}
		case "attachment":
			atts[it.AttachmentType] = it
		default:
			t.Errorf("unexpected item %q", it.Type)
		}
	}
	if ev == nil {
		t.Fatalf("no event in %s", m.Data)
	}
	if ev["event_id"] != env.Header.EventID {
		t.Errorf("event_id %v, envelope's %q", ev["event_id"], env.Header.EventID)
	}
	return ev, atts
}

// path reads a nested field of a decoded event: keys and indexes.
func path(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// TestMinidumpEndpoint: a Crashpad-style upload (the dump gzipped in
// upload_file_minidump, a sentry JSON field, sentry[…] bracket fields, an
// extra file and a plain field) is stored on INGEST as a native fatal event
// made from the dump, with the sentry fields merged and the dump as an
// event.minidump attachment.
func TestMinidumpEndpoint(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	g := c.startGateway(defaultOptions(t))

	dump := minidumptest.Windows().Write()
	body, ct := multipartBody(t,
		formField{name: "sentry", value: `{"release":"crashy@1.2.3","environment":"prod","tags":{"from_json":"yes"}}`},
		formField{name: "sentry[tags][shard]", value: "eu-1"},
		formField{name: "sentry[user][id]", value: "u-17"},
		formField{name: "prod", value: "Crashy"},
		formField{name: "upload_file_minidump", file: "crash.dmp", value: string(gzipped(t, dump))},
		formField{name: "notes", file: "notes.txt", value: "what the user did"},
	)
	res := g.post(t, fmt.Sprintf("/api/%d/minidump/?sentry_key=%s", project, key), body, http.Header{"Content-Type": {ct}})
	id := res.id(t)
	ev, atts := storedCrash(t, c, "minidump")
	if ev["event_id"] != id {
		t.Errorf("answered id %q, stored event %v", id, ev["event_id"])
	}
	for _, tc := range []struct {
		path []any
		want any
	}{
		{[]any{"platform"}, "native"},
		{[]any{"level"}, "fatal"},
		{[]any{"release"}, "crashy@1.2.3"},
		{[]any{"environment"}, "prod"},
		{[]any{"tags", "from_json"}, "yes"},
		{[]any{"tags", "shard"}, "eu-1"},
		{[]any{"user", "id"}, "u-17"},
		{[]any{"extra", "prod"}, "Crashy"},
		{[]any{"exception", "values", 0, "type"}, "EXCEPTION_ACCESS_VIOLATION"},
		{[]any{"exception", "values", 0, "mechanism", "type"}, "minidump"},
		{[]any{"exception", "values", 0, "mechanism", "handled"}, false},
		{[]any{"exception", "values", 0, "mechanism", "data", "address"}, "0x7ff6a1b21234"},
		{[]any{"exception", "values", 0, "thread_id"}, 7.0},
		{[]any{"threads", "values", 1, "crashed"}, true},
		{[]any{"threads", "values", 0, "crashed"}, false},
		{[]any{"contexts", "os", "name"}, "Windows"},
		{[]any{"contexts", "os", "version"}, "10.0.19045"},
		{[]any{"contexts", "device", "arch"}, "amd64"},
		{[]any{"debug_meta", "images", 0, "debug_id"}, "00112233-4455-6677-8899-aabbccddeeff-2"},
		{[]any{"debug_meta", "images", 0, "code_file"}, `C:\Program Files\Crashy\crashy.exe`},
		{[]any{"debug_meta", "images", 1, "image_addr"}, "0x7ffb10000000"},
		{[]any{"timestamp"}, "2023-11-14T22:13:20Z"},
	} {
		if got := path(ev, tc.path...); got != tc.want {
			t.Errorf("event%v = %#v, want %#v", tc.path, got, tc.want)
		}
	}
	md, ok := atts["event.minidump"]
	if !ok || !bytes.Equal(md.Payload, dump) || md.Filename != "crash.dmp" {
		t.Errorf("minidump attachment %q of %d bytes, want crash.dmp holding the %d bytes of the dump, ungzipped", md.Filename, len(md.Payload), len(dump))
	}
	if f := atts["event.attachment"]; string(f.Payload) != "what the user did" || f.Filename != "notes.txt" {
		t.Errorf("other file: %q %q", f.Filename, f.Payload)
	}

	// A bare dump as the body is taken too, the key in X-Sentry-Auth.
	res = g.post(t, fmt.Sprintf("/api/%d/minidump/", project), dump, http.Header{"X-Sentry-Auth": {authHeader(key)}})
	res.id(t)
	if ev, atts := storedCrash(t, c, "minidump"); path(ev, "exception", "values", 0, "type") != "EXCEPTION_ACCESS_VIOLATION" || len(atts["event.minidump"].Payload) != len(dump) {
		t.Errorf("bare dump: event %v", ev)
	}
}

// TestMinidumpEndpointRefuses: bad uploads get a clear 4xx and nothing is
// stored.
func TestMinidumpEndpointRefuses(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	g := c.startGateway(defaultOptions(t))
	dump := minidumptest.Windows().Write()
	good, ct := multipartBody(t, formField{name: "upload_file_minidump", file: "a.dmp", value: string(dump)})
	noDump, noDumpCT := multipartBody(t, formField{name: "sentry", value: `{}`})
	garbage, garbageCT := multipartBody(t, formField{name: "upload_file_minidump", file: "a.dmp", value: "MDMP but then nothing sensible at all"})
	badJSON, badJSONCT := multipartBody(t, formField{name: "sentry", value: `{"release":`}, formField{name: "upload_file_minidump", file: "a.dmp", value: string(dump)})
	badBracket, badBracketCT := multipartBody(t, formField{name: "sentry[tags", value: "x"}, formField{name: "upload_file_minidump", file: "a.dmp", value: string(dump)})
	path := fmt.Sprintf("/api/%d/minidump/?sentry_key=%s", project, key)
	stored := c.count()
	for _, tc := range []struct {
		name, path string
		body       []byte
		ct         string
		status     int
	}{
		{"no key", fmt.Sprintf("/api/%d/minidump/", project), good, ct, 401},
		{"key of another project", fmt.Sprintf("/api/%d/minidump/?sentry_key=%s", project, otherKey), good, ct, 403},
		{"disabled key", fmt.Sprintf("/api/%d/minidump/?sentry_key=%s", project, disabledKey), good, ct, 403},
		{"not a form", path, []byte(`{"hello":1}`), "application/json", 415},
		{"no dump", path, noDump, noDumpCT, 400},
		{"garbage dump", path, garbage, garbageCT, 400},
		{"bad sentry JSON", path, badJSON, badJSONCT, 400},
		{"bad bracket field", path, badBracket, badBracketCT, 400},
		{"truncated form", path, good[:len(good)/2], ct, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := g.post(t, tc.path, tc.body, http.Header{"Content-Type": {tc.ct}})
			if res.status != tc.status {
				t.Errorf("status %d (%s), want %d", res.status, res.body, tc.status)
			}
			res.detail(t)
		})
	}
	if n := c.count(); n != stored {
		t.Errorf("%d messages stored by refused uploads", n-stored)
	}
}

// TestUnrealEndpoint: a Crash Report Client upload, the key in the path,
// is stored as a native fatal event with the context's message, user,
// release, tags and contexts, the dump's exception and modules, and the
// dump, context and log as attachments.
func TestUnrealEndpoint(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	g := c.startGateway(defaultOptions(t))
	dump := minidumptest.Windows().Write()
	ctx := unrealtest.Context("Unhandled Exception: EXCEPTION_ACCESS_VIOLATION reading address 0x00000000", "UE4CC-Windows-ABCD",
		"jane", "4f3e2d1c9b8a", "4.27.2-18319896+++UE4+Release-4.27")
	body := unrealtest.Report("UE4CC-Windows-ABCD",
		unrealtest.File{Name: "CrashContext.runtime-xml", Data: ctx},
		unrealtest.File{Name: "UE4Minidump.dmp", Data: dump},
		unrealtest.File{Name: "Crashy.log", Data: []byte("LogWindows: Error: === Critical error: ===\n")})
	res := g.post(t, fmt.Sprintf("/api/%d/unreal/%s/", project, key), body, http.Header{"Content-Type": {"application/octet-stream"}})
	res.id(t)
	ev, atts := storedCrash(t, c, "unreal")
	for _, tc := range []struct {
		path []any
		want any
	}{
		{[]any{"platform"}, "native"},
		{[]any{"level"}, "fatal"},
		{[]any{"message"}, "Unhandled Exception: EXCEPTION_ACCESS_VIOLATION reading address 0x00000000"},
		{[]any{"user", "id"}, "4f3e2d1c9b8a"},
		{[]any{"user", "username"}, "jane"},
		{[]any{"release"}, "++UE4+Release-4.27-CL-18319896"},
		{[]any{"tags", "game_name"}, "UE4-Crashy"},
		{[]any{"tags", "engine_version"}, "4.27.2-18319896+++UE4+Release-4.27"},
		{[]any{"contexts", "unreal", "CrashGUID"}, "UE4CC-Windows-ABCD"},
		{[]any{"contexts", "gpu", "name"}, "NVIDIA GeForce RTX 3070"},
		{[]any{"contexts", "device", "cpu_description"}, "AMD Ryzen 7 5800X 8-Core Processor"},
		{[]any{"contexts", "device", "arch"}, "amd64"},
		{[]any{"contexts", "os", "name"}, "Windows"},
		{[]any{"exception", "values", 0, "type"}, "EXCEPTION_ACCESS_VIOLATION"},
		{[]any{"exception", "values", 0, "mechanism", "type"}, "unreal"},
		{[]any{"debug_meta", "images", 0, "debug_file"}, `C:\build\crashy.pdb`},
	} {
		if got := path(ev, tc.path...); got != tc.want {
			t.Errorf("event%v = %#v, want %#v", tc.path, got, tc.want)
		}
	}
	if !bytes.Equal(atts["event.minidump"].Payload, dump) || !bytes.Equal(atts["unreal.context"].Payload, ctx) ||
		atts["unreal.logs"].Filename != "Crashy.log" {
		t.Errorf("attachments %v", atts)
	}

	stored := c.count()
	for _, tc := range []struct {
		name, path string
		body       []byte
		status     int
	}{
		{"unknown key", fmt.Sprintf("/api/%d/unreal/%s/", project, "ffffffffffffffffffffffffffffffff"), body, 401},
		{"key of another project", fmt.Sprintf("/api/%d/unreal/%s/", project, otherKey), body, 403},
		{"not zlib", fmt.Sprintf("/api/%d/unreal/%s/", project, key), []byte("plain text"), 400},
		{"bad context", fmt.Sprintf("/api/%d/unreal/%s/", project, key), unrealtest.Report("d",
			unrealtest.File{Name: "CrashContext.runtime-xml", Data: []byte("<html>")}), 400},
		{"bad dump", fmt.Sprintf("/api/%d/unreal/%s/", project, key), unrealtest.Report("d",
			unrealtest.File{Name: "UE4Minidump.dmp", Data: []byte("MDMP?")}), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := g.post(t, tc.path, tc.body, nil)
			if res.status != tc.status {
				t.Errorf("status %d (%s), want %d", res.status, res.body, tc.status)
			}
			res.detail(t)
		})
	}
	if n := c.count(); n != stored {
		t.Errorf("%d messages stored by refused uploads", n-stored)
	}

	// Without a dump the context alone makes the event.
	g.post(t, fmt.Sprintf("/api/%d/unreal/%s/", project, key), unrealtest.Report("d",
		unrealtest.File{Name: "CrashContext.runtime-xml", Data: ctx}), nil).id(t)
	ev, _ = storedCrash(t, c, "unreal")
	if path(ev, "exception", "values", 0, "type") != "Crash" || path(ev, "exception", "values", 0, "value") != path(ev, "message") {
		t.Errorf("context-only crash: exception %v, message %v", path(ev, "exception"), path(ev, "message"))
	}
}
