package api_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/sourcemap/sourcemaptest"
)

// postReleaseFile uploads one release file as sentry-cli's `releases files
// VERSION upload FILE NAME` does: multipart file, name, dist and header parts.
func (c *client) postReleaseFile(path, name string, data []byte, dist string, headers ...string) response {
	c.e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if data != nil {
		w, _ := mw.CreateFormFile("file", filepath.Base(name))
		w.Write(data)
	}
	if name != "" {
		mw.WriteField("name", name)
	}
	if dist != "" {
		mw.WriteField("dist", dist)
	}
	for _, h := range headers {
		mw.WriteField("header", h)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", c.e.srv.URL+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+c.bearer)
	res, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b.Bytes()}
}

// TestReleaseFileUpload: files uploaded one by one under a release are
// assembled by the sourcemaps role and indexed by release, dist and URL,
// the script with the map its sourceMappingURL comment names, so a frame of
// the release finds its map without debug ids.
func TestReleaseFileUpload(t *testing.T) {
	e, f := uploadEnv(t)
	tok, _ := e.token(f.users["member"], "read", "write")
	cli := e.withToken(tok)
	if res := cli.do("POST", "/api/0/organizations/acme/releases/", map[string]any{"version": "2.0", "projects": []string{"web"}}); res.status != 201 {
		t.Fatalf("create release: %d %s", res.status, res.body)
	}
	js, err := os.ReadFile(filepath.Join(sourcemaptest.Testdata(), "app.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	sm, err := os.ReadFile(filepath.Join(sourcemaptest.Testdata(), "app.min.js.map"))
	if err != nil {
		t.Fatal(err)
	}
	const files = "/api/0/projects/acme/web/releases/2.0/files/"
	var art struct {
		ID, Name, SHA1 string
		Size           int
		Dist           *string
		Headers        map[string]string
	}
	res := cli.postReleaseFile(files, "~/static/app.min.js", js, "", "Content-Type:application/javascript")
	res.json(t, &art)
	if res.status != 201 || art.Name != "~/static/app.min.js" || art.SHA1 != sha1Hex(js) || art.Size != len(js) ||
		art.Headers["Sourcemap"] != "app.min.js.map" || art.ID == "" {
		t.Fatalf("upload app.min.js: %d %s", res.status, res.body)
	}
	// The organisation's route takes the release's projects.
	if res := cli.postReleaseFile("/api/0/organizations/acme/releases/2.0/files/", "~/static/app.min.js.map", sm, ""); res.status != 201 {
		t.Fatalf("upload the map: %d %s", res.status, res.body)
	}

	var list []struct{ Name, SHA1 string }
	for deadline := time.Now().Add(20 * time.Second); len(list) < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		cli.do("GET", files, nil).json(t, &list)
	}
	if len(list) != 2 {
		t.Fatalf("release files: %+v, want the two uploaded", list)
	}
	type row struct{ url, typ, sourcemap, release, dist, object string }
	rows, err := e.db.Pool.Query(context.Background(), `SELECT url, type, sourcemap, release, dist, object FROM sourcemaps.files
		WHERE project_id = $1 ORDER BY url`, f.project.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []row
	for rows.Next() {
		var r row
		rows.Scan(&r.url, &r.typ, &r.sourcemap, &r.release, &r.dist, &r.object)
		got = append(got, r)
	}
	want := []row{
		{"~/static/app.min.js", "minified_source", "app.min.js.map", "2.0", "", sha1Hex(js)},
		{"~/static/app.min.js.map", "source_map", "", "2.0", "", sha1Hex(sm)},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("indexed files:\n got %+v\nwant %+v", got, want)
	}

	// The same name again is a conflict, which sentry-cli reports.
	if res := cli.postReleaseFile(files, "~/static/app.min.js", js, ""); res.status != 409 {
		t.Errorf("the same name again: %d %s", res.status, res.body)
	}
	// Under another dist it is another file.
	if res := cli.postReleaseFile(files, "~/static/app.min.js", js, "android"); res.status != 201 || !strings.Contains(string(res.body), `"dist":"android"`) {
		t.Errorf("another dist: %d %s", res.status, res.body)
	}
	for _, c := range []struct {
		name, path, file string
		data             []byte
		headers          []string
		status           int
	}{
		{"unknown release", "/api/0/projects/acme/web/releases/9.9/files/", "~/a.js", js, nil, 404},
		{"no file part", files, "~/b.js", nil, nil, 400},
		{"bad header", files, "~/c.js", js, []string{"no colon"}, 400},
	} {
		if res := cli.postReleaseFile(c.path, c.file, c.data, "", c.headers...); res.status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, res.status, res.body, c.status)
		}
	}
	reader, _ := e.token(f.users["member"], "read")
	if res := e.withToken(reader).postReleaseFile(files, "~/d.js", js, ""); res.status != 403 {
		t.Errorf("a read-only token: %d %s", res.status, res.body)
	}
}

// TestReleaseFileDelete: sentry-cli's `releases files VERSION delete NAME`
// deletes a file by the id the listing gives, through the project's route
// or the organisation's; the listing no longer shows it when the DELETE is
// answered; an unknown id is 404, a read-only token 403, and another
// organisation's member reaches nothing. The organisation's listing and its
// delete --all (files/source-maps/?name=) reach the same files.
func TestReleaseFileDelete(t *testing.T) {
	e, f := uploadEnv(t)
	tok, _ := e.token(f.users["member"], "read", "write")
	cli := e.withToken(tok)
	if res := cli.do("POST", "/api/0/organizations/acme/releases/", map[string]any{"version": "3.0", "projects": []string{"web"}}); res.status != 201 {
		t.Fatalf("create release: %d %s", res.status, res.body)
	}
	const files = "/api/0/projects/acme/web/releases/3.0/files/"
	for _, name := range []string{"~/a.js", "~/b.js"} {
		if res := cli.postReleaseFile(files, name, []byte("function "+name[2:3]+"(){}\n"), ""); res.status != 201 {
			t.Fatalf("upload %s: %d %s", name, res.status, res.body)
		}
	}
	var list []struct{ ID, Name string }
	for deadline := time.Now().Add(20 * time.Second); len(list) < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		cli.do("GET", files, nil).json(t, &list)
	}
	if len(list) != 2 {
		t.Fatalf("release files: %+v", list)
	}
	ids := map[string]string{}
	for _, f := range list {
		ids[f.Name] = f.ID
	}

	reader, _ := e.token(f.users["member"], "read")
	if res := e.withToken(reader).do("DELETE", files+ids["~/a.js"]+"/", nil); res.status != 403 {
		t.Errorf("a read-only token: %d %s", res.status, res.body)
	}
	otherTok, _ := e.token(f.users["other"], "read", "write")
	for _, path := range []string{files + ids["~/a.js"] + "/", "/api/0/organizations/acme/releases/3.0/files/" + ids["~/a.js"] + "/",
		"/api/0/projects/rival/secret/releases/3.0/files/" + ids["~/a.js"] + "/"} {
		if res := e.withToken(otherTok).do("DELETE", path, nil); res.status != 403 && res.status != 404 {
			t.Errorf("another organisation's member: DELETE %s: %d %s", path, res.status, res.body)
		}
	}
	if res := cli.do("DELETE", files+"0123456789abcdef0123/", nil); res.status != 404 {
		t.Errorf("unknown id: %d %s", res.status, res.body)
	}

	if res := cli.do("DELETE", files+ids["~/a.js"]+"/", nil); res.status != 204 {
		t.Fatalf("delete ~/a.js: %d %s", res.status, res.body)
	}
	cli.do("GET", files, nil).json(t, &list)
	if len(list) != 1 || list[0].Name != "~/b.js" {
		t.Fatalf("after the delete: %+v, want ~/b.js alone", list)
	}
	if res := cli.do("DELETE", files+ids["~/a.js"]+"/", nil); res.status != 404 {
		t.Errorf("deleted twice: %d %s", res.status, res.body)
	}
	if res := cli.do("DELETE", "/api/0/organizations/acme/releases/3.0/files/"+ids["~/b.js"]+"/", nil); res.status != 204 {
		t.Fatalf("delete ~/b.js through the organisation: %d %s", res.status, res.body)
	}
	if res := cli.do("GET", files, nil); res.status != 200 || len(res.list(t)) != 0 {
		t.Fatalf("after both deletes: %d %s", res.status, res.body)
	}

	// The organisation's routes: its listing shows a new upload, and
	// sentry-cli's `delete --all` through it takes every file of the release.
	if res := cli.postReleaseFile(files, "~/c.js", []byte("function c(){}\n"), ""); res.status != 201 {
		t.Fatalf("upload ~/c.js: %d %s", res.status, res.body)
	}
	const orgFiles = "/api/0/organizations/acme/releases/3.0/files/"
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cli.do("GET", orgFiles, nil).json(t, &list); len(list) > 0 {
			break
		}
	}
	if len(list) != 1 || list[0].Name != "~/c.js" {
		t.Fatalf("the organisation's listing: %+v, want ~/c.js", list)
	}
	if res := cli.do("DELETE", "/api/0/organizations/acme/files/source-maps/?name=3.0", nil); res.status != 204 {
		t.Fatalf("delete --all through the organisation: %d %s", res.status, res.body)
	}
	if res := cli.do("GET", orgFiles, nil); res.status != 200 || len(res.list(t)) != 0 {
		t.Fatalf("after delete --all: %d %s", res.status, res.body)
	}
	var bundles int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM sourcemaps.bundles`).Scan(&bundles); err != nil || bundles != 0 {
		t.Errorf("%d bundles left (%v), want 0", bundles, err)
	}
}
