package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/event"
	"github.com/faultline/faultline/libs/sourcemap/sourcemaptest"
	"github.com/faultline/faultline/libs/sourcemapindex"
)

// minifiedPayload is what @sentry/node sends for runApp("x") thrown from
// libs/sourcemap/testdata's app.min.js, released as release; with debugID,
// its debug_meta names the bundle's debug id.
func minifiedPayload(id, release string, debugID bool) []byte {
	meta := ""
	if debugID {
		meta = `,"debug_meta":{"images":[{"type":"sourcemap","code_file":"/srv/app/dist/app.min.js","debug_id":"` +
			sourcemaptest.DebugID + `"}]}`
	}
	return fmt.Appendf(nil, `{"event_id":%q,"timestamp":%f,"platform":"node","level":"error","release":%q,
	"exception":{"values":[{"type":"Error","value":"boom: not a number: x","stacktrace":{"frames":[
	 {"function":"s","filename":"/srv/app/dist/app.min.js","module":"app.min","lineno":1,"colno":403,"in_app":true},
	 {"function":"i","abs_path":"/srv/app/dist/app.min.js","filename":"/srv/app/dist/app.min.js","lineno":1,"colno":335,"in_app":true}]}}]}%s}`,
		id, float64(time.Now().UnixMicro())/1e6, release, meta)
}

// uploadBundle uploads an artifact bundle as sentry-cli does (chunks, then
// assemble requests until the answer is final) and returns the final
// state.
func (c *client) uploadBundle(zipped []byte, version string) string {
	c.e.t.Helper()
	if res := c.postChunks("acme", [][]byte{zipped}); res.status != 200 {
		c.e.t.Fatalf("upload chunks: %d %s", res.status, res.body)
	}
	req := map[string]any{"checksum": sha1Hex(zipped), "chunks": []string{sha1Hex(zipped)}, "projects": []string{"web"}, "version": version}
	var st struct{ State string }
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c.do("POST", "/api/0/organizations/acme/artifactbundle/assemble/", req).json(c.e.t, &st)
		if st.State == "ok" || st.State == "error" {
			break
		}
	}
	return st.State
}

// releaseWriter is a member's client with write access, and release
// version of acme's project web made.
func (e *restEnv) releaseWriter(f *fixture, version string) *client {
	e.t.Helper()
	tok, _ := e.token(f.users["member"], "read", "write")
	cli := e.withToken(tok)
	if res := cli.do("POST", "/api/0/organizations/acme/releases/", map[string]any{"version": version, "projects": []string{"web"}}); res.status != 201 {
		e.t.Fatalf("create release: %d %s", res.status, res.body)
	}
	return cli
}

// TestBundleUploadedAgainAfterDelete: deleting a release's files and at
// once uploading the identical bundle again (well within the SOURCEMAPS
// stream's duplicate window) assembles and indexes it again: its files are
// listed and symbolicate frames again. Deleting one file of a bundle and
// uploading the bundle again brings that file back.
func TestBundleUploadedAgainAfterDelete(t *testing.T) {
	e, f := uploadEnv(t)
	cli := e.releaseWriter(f, "1.0")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Every look-up goes to the index: nothing is remembered between them.
	ix, err := sourcemapindex.New(ctx, e.db.Pool, e.nc.JS, sourcemapindex.Options{CacheBytes: 64 << 20, MaxMapBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	mapped := func() int {
		t.Helper()
		ev, err := event.Normalize(minifiedPayload(newID(), "1.0", false), event.Meta{ProjectID: f.project.ID, Received: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		n, err := ix.Symbolicate(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	const files = "/api/0/projects/acme/web/releases/1.0/files/"
	listed := func() map[string]string {
		t.Helper()
		var list []struct{ ID, Name string }
		cli.do("GET", files, nil).json(t, &list)
		out := map[string]string{}
		for _, f := range list {
			out[f.Name] = f.ID
		}
		return out
	}
	zipped := sourcemaptest.EsbuildBundle(t)

	if st := cli.uploadBundle(zipped, "1.0"); st != "ok" {
		t.Fatalf("upload: %s", st)
	}
	if got := listed(); len(got) != 2 || mapped() != 2 {
		t.Fatalf("uploaded: files %v, %d frames mapped; want 2 and 2", got, mapped())
	}

	if res := cli.do("DELETE", "/api/0/projects/acme/web/files/source-maps/?name=1.0", nil); res.status != 204 {
		t.Fatalf("delete the release's files: %d %s", res.status, res.body)
	}
	if got := listed(); len(got) != 0 || mapped() != 0 {
		t.Fatalf("deleted: files %v, %d frames mapped; want none", got, mapped())
	}
	if st := cli.uploadBundle(zipped, "1.0"); st != "ok" {
		t.Fatalf("uploaded again after the delete: %s", st)
	}
	got := listed()
	if len(got) != 2 || mapped() != 2 {
		t.Fatalf("uploaded again: files %v, %d frames mapped; want 2 and 2", got, mapped())
	}

	if res := cli.do("DELETE", files+got["~/app.min.js.map"]+"/", nil); res.status != 204 {
		t.Fatalf("delete the map: %d %s", res.status, res.body)
	}
	if got := listed(); len(got) != 1 || mapped() != 0 {
		t.Fatalf("map deleted: files %v, %d frames mapped; want the minified file alone and none", got, mapped())
	}
	if st := cli.uploadBundle(zipped, "1.0"); st != "ok" {
		t.Fatalf("uploaded again after deleting the map: %s", st)
	}
	if got := listed(); len(got) != 2 || mapped() != 2 {
		t.Fatalf("uploaded again after deleting the map: files %v, %d frames mapped; want 2 and 2", got, mapped())
	}
}
