package sourcemaps_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/sourcemap/sourcemaptest"
	"github.com/faultline/faultline/services/sourcemaps"
	"github.com/faultline/faultline/streams"
)

// releaseBundle is a bundle of release with a script (the same bytes in
// every release) and a map of its own.
func releaseBundle(t testing.TB, release string) (zip, script, sourceMap []byte) {
	script = []byte("function a(){throw new Error('x')}a();\n//# sourceMappingURL=app.min.js.map\n")
	sourceMap = []byte(`{"version":3,"file":"app.min.js","sources":["app.js"],"names":[],"mappings":"AAAA","x_release":"` + release + `"}`)
	manifest := `{"org":"acme","release":"` + release + `","files":{
		"_/_/app.min.js":{"url":"~/app.min.js","type":"minified_source","headers":{"Sourcemap":"app.min.js.map"}},
		"_/_/app.min.js.map":{"url":"~/app.min.js.map","type":"source_map","headers":{}}}}`
	return sourcemaptest.Bundle(t, manifest, map[string][]byte{"_/_/app.min.js": script, "_/_/app.min.js.map": sourceMap}), script, sourceMap
}

func (e *env) stored(data []byte) bool {
	e.t.Helper()
	store, err := e.nc.JS.ObjectStore(e.ctx, streams.ArtifactsBucket)
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = store.GetInfo(e.ctx, sha1hex(data))
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		e.t.Fatal(err)
	}
	return err == nil
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Pool.QueryRow(e.ctx, sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// delete publishes cmd and waits until the release's files in project 1
// number want.
func (e *env) delete(cmd streams.DeleteCommand, want int) {
	e.t.Helper()
	body, _ := cmd.Encode()
	msg := nats.NewMsg(streams.DeleteSubject(cmd.OrgID))
	msg.Data = body
	if _, err := e.nc.JS.PublishMsg(e.ctx, msg); err != nil {
		e.t.Fatal(err)
	}
	// Done when the files are gone and the command is acknowledged: the
	// role sweeps the objects after the files' transaction commits.
	cons, err := e.nc.JS.Consumer(e.ctx, streams.Sourcemaps, sourcemaps.DefaultOptions().Consumer)
	if err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := e.count(`SELECT count(*) FROM sourcemaps.files WHERE release = $1`, cmd.Release)
		info, err := cons.Info(e.ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if n == want && info.NumPending == 0 && info.NumAckPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("release %s has %d files after the delete, want %d", cmd.Release, n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDeleteDropsFilesAndObjects: deleting a release file drops it from the
// index and its object from the real object store, but not an object
// another release's bundle shares; deleting the release drops its bundle;
// a delete redelivered after the release was uploaded again spares the new
// upload; a bundle past the retention goes with its objects.
func TestDeleteDropsFilesAndObjects(t *testing.T) {
	e := start(t)
	zip1, script, map1 := releaseBundle(t, "1.0")
	zip2, _, map2 := releaseBundle(t, "2.0")
	for _, b := range []struct {
		zip     []byte
		release string
	}{{zip1, "1.0"}, {zip2, "2.0"}} {
		if state, detail := e.assemble(streams.AssembleCommand{OrgID: 1, Checksum: sha1hex(b.zip), Chunks: e.upload(b.zip, 1<<20),
			ProjectIDs: []int64{1}, Release: b.release}); state != "ok" {
			t.Fatalf("release %s: %s %s", b.release, state, detail)
		}
	}
	if !e.stored(script) || !e.stored(map1) || !e.stored(map2) {
		t.Fatal("the bundles' files are not in the object store")
	}

	// One file of release 1.0.
	e.delete(streams.DeleteCommand{OrgID: 1, ProjectIDs: []int64{1}, Release: "1.0", Checksum: sha1hex(zip1),
		Path: "_/_/app.min.js.map", At: time.Now()}, 1)
	if e.stored(map1) {
		t.Error("the deleted map's object is still stored")
	}
	if !e.stored(script) || !e.stored(map2) {
		t.Error("objects release 2.0 uses were deleted")
	}
	// Another project's delete touches nothing of project 1.
	e.delete(streams.DeleteCommand{OrgID: 1, ProjectIDs: []int64{2}, Release: "2.0", At: time.Now()}, 2)

	// The whole release.
	before := time.Now()
	e.delete(streams.DeleteCommand{OrgID: 1, ProjectIDs: []int64{1}, Release: "1.0", At: before}, 0)
	if n := e.count(`SELECT count(*) FROM sourcemaps.bundles WHERE checksum = $1`, sha1hex(zip1)); n != 0 {
		t.Errorf("release 1.0's bundle is still indexed (%d rows)", n)
	}
	if !e.stored(script) {
		t.Error("the script release 2.0 shares was deleted with release 1.0")
	}
	if n := e.count(`SELECT count(*) FROM sourcemaps.files WHERE release = '2.0'`); n != 2 {
		t.Errorf("release 2.0 of project 1 has %d files after project 2's delete, want 2", n)
	}

	// Uploaded again, then the old delete redelivered: the upload stays.
	time.Sleep(10 * time.Millisecond)
	if state, _ := e.assemble(streams.AssembleCommand{OrgID: 1, Checksum: sha1hex(zip1), Chunks: e.upload(zip1, 1<<20),
		ProjectIDs: []int64{1}, Release: "1.0"}); state != "ok" {
		t.Fatalf("upload again: %s", state)
	}
	if n, err := e.svc.Delete(e.ctx, &streams.DeleteCommand{OrgID: 1, ProjectIDs: []int64{1}, Release: "1.0", At: before}); err != nil || n != 0 {
		t.Fatalf("redelivered delete dropped %d files (%v), want 0", n, err)
	}
	if !e.stored(map1) {
		t.Fatal("the map uploaded again is not stored")
	}
	e.delete(streams.DeleteCommand{OrgID: 1, ProjectIDs: []int64{1}, Release: "1.0", At: time.Now()}, 0)

	// Retention: release 2.0's bundle, last uploaded 100 days ago.
	if _, err := e.db.Pool.Exec(e.ctx, `UPDATE sourcemaps.bundles SET updated = now() - interval '100 days'`); err != nil {
		t.Fatal(err)
	}
	n, err := e.svc.Expire(e.ctx, time.Now().Add(-90*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("expired %d bundles (%v), want 1", n, err)
	}
	if e.count(`SELECT count(*) FROM sourcemaps.files`) != 0 {
		t.Error("files of the expired bundle are still indexed")
	}
	if e.stored(script) || e.stored(map2) || e.stored(map1) {
		t.Error("objects of expired or deleted bundles are still stored")
	}
}
