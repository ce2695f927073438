package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"log/slog"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/pg"
	"github.com/faultline/faultline/libs/sourcemap/sourcemaptest"
	"github.com/faultline/faultline/services/sourcemaps"
)

// uploadEnv is the REST API with source-map uploads connected to a real
// JetStream, and the sourcemaps role assembling what is uploaded.
func uploadEnv(t *testing.T) (*restEnv, *fixture) {
	e := newRestEnv(t)
	f := e.fixture()
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := pg.Migrate(ctx, e.db.Pool, sourcemaps.Migrations); err != nil {
		t.Fatal(err)
	}
	// The restEnv's JetStream, so that a grouping replica started on it
	// symbolicates with what is uploaded.
	nc := e.nc
	if err := e.api.SetUploads(ctx, nc.JS); err != nil {
		t.Fatal(err)
	}
	svc, err := sourcemaps.New(ctx, e.db.Pool, nc, sourcemaps.DefaultOptions(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return e, f
}

func sha1Hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

// postChunks sends chunks as sentry-cli does: multipart, gzip-compressed
// in file_gzip fields named by their SHA-1 (names overrides them).
func (c *client) postChunks(org string, chunks [][]byte, names ...string) response {
	c.e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for i, ch := range chunks {
		name := sha1Hex(ch)
		if i < len(names) {
			name = names[i]
		}
		w, _ := mw.CreateFormFile("file_gzip", name)
		zw := gzip.NewWriter(w)
		zw.Write(ch)
		zw.Close()
	}
	mw.Close()
	req, _ := http.NewRequest("POST", c.e.srv.URL+"/api/0/organizations/"+org+"/chunk-upload/", &body)
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

func TestArtifactBundleUpload(t *testing.T) {
	e, f := uploadEnv(t)
	tok, _ := e.token(f.users["member"], "read", "write")
	cli := e.withToken(tok)

	res := cli.do("GET", "/api/0/organizations/acme/chunk-upload/", nil)
	opts := res.obj(t)
	if res.status != 200 || opts["hashAlgorithm"] != "sha1" || opts["url"] != e.srv.URL+"/api/0/organizations/acme/chunk-upload/" ||
		!strings.Contains(string(res.body), `"artifact_bundles"`) || !strings.Contains(string(res.body), `"compression":["gzip"]`) {
		t.Fatalf("options: %d %s", res.status, res.body)
	}

	zipped := sourcemaptest.EsbuildBundle(t)
	half := len(zipped) / 2
	chunks := [][]byte{zipped[:half], zipped[half:]}
	assemble := map[string]any{"checksum": sha1Hex(zipped), "chunks": []string{sha1Hex(chunks[0]), sha1Hex(chunks[1])},
		"projects": []string{"web"}, "version": "1.0"}
	var st struct {
		State         string   `json:"state"`
		MissingChunks []string `json:"missingChunks"`
		Detail        *string  `json:"detail"`
	}
	cli.do("POST", "/api/0/organizations/acme/artifactbundle/assemble/", assemble).json(t, &st)
	if st.State != "not_found" || len(st.MissingChunks) != 2 {
		t.Fatalf("before the upload: %+v", st)
	}
	// A chunk whose name is not its SHA-1 is refused.
	if res := cli.postChunks("acme", chunks[:1], strings.Repeat("0", 40)); res.status != 400 || !strings.Contains(string(res.body), "SHA-1") {
		t.Errorf("mislabelled chunk: %d %s", res.status, res.body)
	}
	if res := cli.postChunks("acme", chunks[:1]); res.status != 200 {
		t.Fatalf("upload: %d %s", res.status, res.body)
	}
	cli.do("POST", "/api/0/organizations/acme/artifactbundle/assemble/", assemble).json(t, &st)
	if st.State != "not_found" || len(st.MissingChunks) != 1 || st.MissingChunks[0] != sha1Hex(chunks[1]) {
		t.Fatalf("with one chunk: %+v", st)
	}
	cli.postChunks("acme", chunks[1:])
	cli.do("POST", "/api/0/organizations/acme/artifactbundle/assemble/", assemble).json(t, &st)
	if st.State != "created" && st.State != "assembling" && st.State != "ok" {
		t.Fatalf("with every chunk: %+v", st)
	}
	deadline := time.Now().Add(20 * time.Second)
	for st.State != "ok" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		cli.do("POST", "/api/0/organizations/acme/artifactbundle/assemble/", assemble).json(t, &st)
	}
	if st.State != "ok" {
		t.Fatalf("never ok: %+v", st)
	}
	var n int
	e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM sourcemaps.files WHERE project_id = $1 AND release = '1.0'
		AND debug_id = $2`, f.project.ID, sourcemaptest.DebugID).Scan(&n)
	if n != 2 {
		t.Errorf("%d files indexed for the project, want 2", n)
	}

	// A bundle whose chunks do not make its checksum ends in error.
	bad := map[string]any{"checksum": strings.Repeat("a", 40), "chunks": []string{sha1Hex(chunks[0])}, "projects": []string{"web"}}
	cli.do("POST", "/api/0/organizations/acme/artifactbundle/assemble/", bad).json(t, &st)
	for deadline := time.Now().Add(20 * time.Second); st.State != "error" && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		cli.do("POST", "/api/0/organizations/acme/artifactbundle/assemble/", bad).json(t, &st)
	}
	if st.State != "error" || st.Detail == nil || !strings.Contains(*st.Detail, "checksum") {
		t.Errorf("bad checksum: %+v", st)
	}
}

func TestArtifactBundleUploadRefusals(t *testing.T) {
	e, f := uploadEnv(t)
	member, _ := e.token(f.users["member"], "read", "write")
	reader, _ := e.token(f.users["member"], "read")
	outsider, _ := e.token(f.users["other"], "read", "write")
	ok := map[string]any{"checksum": strings.Repeat("a", 40), "chunks": []string{strings.Repeat("b", 40)}, "projects": []string{"web"}}
	for _, c := range []struct {
		name   string
		tok    string
		org    string
		body   any
		status int
	}{
		{"no token", "", "acme", ok, 401},
		{"read-only token", reader, "acme", ok, 403},
		{"another organisation", outsider, "acme", ok, 404},
		{"another organisation's project", member, "acme", map[string]any{"checksum": strings.Repeat("a", 40), "chunks": []string{strings.Repeat("b", 40)}, "projects": []string{"secret"}}, 400},
		{"bad checksum", member, "acme", map[string]any{"checksum": "xyz", "chunks": []string{strings.Repeat("b", 40)}, "projects": []string{"web"}}, 400},
		{"no chunks", member, "acme", map[string]any{"checksum": strings.Repeat("a", 40), "chunks": []string{}, "projects": []string{"web"}}, 400},
		{"no projects", member, "acme", map[string]any{"checksum": strings.Repeat("a", 40), "chunks": []string{strings.Repeat("b", 40)}}, 400},
		{"not json", member, "acme", "[", 400},
	} {
		cli := e.anonymous()
		if c.tok != "" {
			cli = e.withToken(c.tok)
		}
		if res := cli.do("POST", "/api/0/organizations/"+c.org+"/artifactbundle/assemble/", c.body); res.status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, res.status, res.body, c.status)
		}
	}
	if res := e.withToken(reader).postChunks("acme", [][]byte{[]byte("x")}); res.status != 403 {
		t.Errorf("chunks with a read-only token: %d", res.status)
	}
	if res := e.withToken(outsider).postChunks("acme", [][]byte{[]byte("x")}); res.status != 404 {
		t.Errorf("chunks to another organisation: %d", res.status)
	}
	res := e.withToken(member).do("POST", "/api/0/organizations/acme/chunk-upload/", map[string]string{"not": "multipart"})
	if res.status != 400 {
		t.Errorf("a JSON body to chunk-upload: %d %s", res.status, res.body)
	}
}

func TestReleases(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	tok, _ := e.token(f.users["member"], "read", "write")
	cli := e.withToken(tok)
	const base = "/api/0/organizations/acme/releases/"
	res := cli.do("POST", base, map[string]any{"version": "web@1.0.0", "projects": []string{"web"}, "ref": "abc"})
	var rel struct {
		Version      string     `json:"version"`
		Ref          *string    `json:"ref"`
		DateReleased *time.Time `json:"dateReleased"`
		DeployCount  int        `json:"deployCount"`
		CommitCount  int        `json:"commitCount"`
		Projects     []struct {
			Slug string `json:"slug"`
		} `json:"projects"`
	}
	res.json(t, &rel)
	if res.status != 201 || rel.Version != "web@1.0.0" || rel.Ref == nil || *rel.Ref != "abc" || len(rel.Projects) != 1 || rel.DateReleased != nil {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	// sentry-cli 2.x creates a release of SENTRY_PROJECT on the project's route.
	res = cli.do("POST", "/api/0/projects/acme/web/releases/", map[string]any{"version": "shop@2.0.0"})
	if !strings.Contains(string(res.body), `"slug":"web"`) || res.status != 201 {
		t.Errorf("create on the project's route: %d %s", res.status, res.body)
	}
	// and finalizes it there; another project's route does not find it.
	res = cli.do("PUT", "/api/0/projects/acme/web/releases/shop@2.0.0/", map[string]any{"dateReleased": time.Now()})
	if res.status != 200 || !strings.Contains(string(res.body), `"dateReleased":"20`) {
		t.Errorf("finalize on the project's route: %d %s", res.status, res.body)
	}
	if _, err := e.store.CreateTeamProject(context.Background(), f.team, "Mobile", "mobile", "javascript"); err != nil {
		t.Fatal(err)
	}
	if res := cli.do("GET", "/api/0/projects/acme/mobile/releases/shop@2.0.0/", nil); res.status != 404 {
		t.Errorf("a release of web on mobile's route: %d %s", res.status, res.body)
	}
	// Creating it again (releases new in CI, twice) keeps one release.
	if res := cli.do("POST", base, map[string]any{"version": "web@1.0.0", "projects": []string{"web"}}); res.status != 201 {
		t.Errorf("again: %d %s", res.status, res.body)
	}
	when := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	res = cli.do("PUT", base+"web@1.0.0/", map[string]any{"dateReleased": when, "commits": []map[string]string{{"id": "abc"}, {"id": "def"}}})
	res.json(t, &rel)
	if res.status != 200 || rel.DateReleased == nil || !rel.DateReleased.Equal(when) || rel.CommitCount != 2 || *rel.Ref != "abc" {
		t.Errorf("finalize: %d %s", res.status, res.body)
	}
	if res := cli.do("POST", base+"web@1.0.0/deploys/", map[string]any{"environment": "production", "name": "deploy 1"}); res.status != 201 {
		t.Errorf("deploy: %d %s", res.status, res.body)
	}
	var deploys []map[string]any
	cli.do("GET", base+"web@1.0.0/deploys/", nil).json(t, &deploys)
	if len(deploys) != 1 || deploys[0]["environment"] != "production" {
		t.Errorf("deploys: %v", deploys)
	}
	var list []map[string]any
	cli.do("GET", base+"?query=web", nil).json(t, &list)
	if len(list) != 1 || list[0]["deployCount"] != float64(1) {
		t.Errorf("list: %v", list)
	}
	for _, c := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"POST", base, map[string]any{"version": "x", "projects": []string{"secret"}}, 400},
		{"POST", base, map[string]any{"version": "a/b", "projects": []string{"web"}}, 400},
		{"POST", base, map[string]any{"version": "x"}, 400},
		{"GET", base + "nope/", nil, 404},
		{"POST", "/api/0/projects/acme/secret/releases/", map[string]any{"version": "x"}, 404},
		{"POST", base + "web@1.0.0/deploys/", map[string]any{}, 400},
	} {
		if res := cli.do(c.method, c.path, c.body); res.status != c.status {
			t.Errorf("%s %s %v: %d %s, want %d", c.method, c.path, c.body, res.status, res.body, c.status)
		}
	}
	outsider, _ := e.token(f.users["other"], "read", "write")
	if res := e.withToken(outsider).do("GET", base+"web@1.0.0/", nil); res.status != 404 {
		t.Errorf("another organisation's release: %d", res.status)
	}
	if res := cli.do("DELETE", base+"web@1.0.0/", nil); res.status != 204 {
		t.Errorf("delete: %d %s", res.status, res.body)
	}
	if res := cli.do("GET", base+"web@1.0.0/", nil); res.status != 404 {
		t.Errorf("after delete: %d", res.status)
	}
}

func init() {
	const org, rel = "/api/0/organizations/{org}/", "/api/0/organizations/{org}/releases/"
	const projectRel = "/api/0/projects/{org}/{project}/releases/"
	for route, need := range map[string]string{
		"GET " + org + "chunk-upload/":             "member",
		"POST " + org + "chunk-upload/":            "member",
		"POST " + org + "artifactbundle/assemble/": "member",
		"GET " + rel:                              "viewer",
		"POST " + rel:                             "member",
		"GET " + rel + "{version}/":               "viewer",
		"PUT " + rel + "{version}/":               "member",
		"DELETE " + rel + "{version}/":            "member",
		"GET " + rel + "{version}/deploys/":       "viewer",
		"POST " + rel + "{version}/deploys/":      "member",
		"POST " + projectRel:                      "member",
		"GET " + projectRel + "{version}/":        "viewer",
		"PUT " + projectRel + "{version}/":        "member",
		"GET " + rel + "{version}/files/":         "viewer",
		"POST " + rel + "{version}/files/":        "member",
		"GET " + projectRel + "{version}/files/":  "viewer",
		"POST " + projectRel + "{version}/files/": "member",
	} {
		wantNeed[route] = need
	}
	issueBodies["POST "+rel] = map[string]any{"version": "walk@2", "projects": []string{"web"}}
	issueBodies["POST "+projectRel] = map[string]any{"version": "walk@3"}
	issueBodies["PUT "+projectRel+"{version}/"] = map[string]any{"dateReleased": "2025-05-01T12:00:00Z"}
	issueBodies["PUT "+rel+"{version}/"] = map[string]any{"dateReleased": "2025-05-01T12:00:00Z"}
	issueBodies["POST "+rel+"{version}/deploys/"] = map[string]any{"environment": "production"}
	issueBodies["POST "+org+"artifactbundle/assemble/"] = map[string]any{"checksum": strings.Repeat("a", 40),
		"chunks": []string{strings.Repeat("b", 40)}, "projects": []string{"web"}}
}

// uploadRoutes need JetStream, which the role walk's API has not: there they
// answer 503 to whoever may call them.
var uploadRoutes = map[string]bool{
	"POST /api/0/organizations/{org}/chunk-upload/":                              true,
	"POST /api/0/organizations/{org}/artifactbundle/assemble/":                   true,
	"GET /api/0/organizations/{org}/releases/{version}/files/":                   true,
	"POST /api/0/organizations/{org}/releases/{version}/files/":                  true,
	"GET /api/0/projects/{org}/{project}/releases/{version}/files/":              true,
	"POST /api/0/projects/{org}/{project}/releases/{version}/files/":             true,
	"DELETE /api/0/organizations/{org}/releases/{version}/files/{file_id}/":      true,
	"DELETE /api/0/projects/{org}/{project}/releases/{version}/files/{file_id}/": true,
	"DELETE /api/0/organizations/{org}/files/source-maps/":                       true,
	"DELETE /api/0/projects/{org}/{project}/files/source-maps/":                  true,
}

// releaseParams makes a release of acme's web project for the walks.
func (e *restEnv) releaseParams(f *fixture) map[string]string {
	e.t.Helper()
	_, err := e.db.Pool.Exec(context.Background(), `WITH r AS (INSERT INTO api.releases (org_id, version) VALUES ($1, 'walk@1') RETURNING id)
		INSERT INTO api.release_projects SELECT id, $2 FROM r`, f.acme.ID, f.project.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return map[string]string{"version": "walk@1"}
}
