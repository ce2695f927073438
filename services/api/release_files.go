package api

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/sourcemap"
	"github.com/faultline/faultline/streams"
)

// Release files: the older per-release upload, one file per request, named
// by the URL it is served at (`sentry-cli releases files VERSION upload FILE
// NAME`, and sentry-cli versions before chunked uploads). The api wraps each
// file into an artifact bundle of one file, stores it in the chunk store and
// asks the sourcemaps role to assemble it like any bundle sentry-cli
// uploads, under the release, its dist and the project (or the release's
// projects), so the index finds it by release and URL as it finds the files
// of sentry-cli's own bundles, and the api writes nothing of schema
// sourcemaps.

// maxReleaseFileSize is the largest file one request uploads (Sentry's
// limit for a release file).
const maxReleaseFileSize = 40 << 20

func (a *API) releaseFileRoutes() []route {
	var out []route
	for _, base := range []string{"/api/0/projects/{org}/{project}/releases/{version}/files/", "/api/0/organizations/{org}/releases/{version}/files/"} {
		out = append(out,
			route{"GET", base, "List a release's files, uploaded one by one or in artifact bundles under the release", user, accounts.LevelRead, 200, "", "[]ReleaseFile", a.listReleaseFiles},
			route{"POST", base, "Upload a release file (multipart: file, name, dist, header as Key:Value); assembled in the background", user, accounts.LevelWrite, 201, "", "ReleaseFile", a.uploadReleaseFile},
			route{"DELETE", base + "{file_id}/", "Delete a release file; its stored object goes when no other file refers to it", user, accounts.LevelWrite, 204, "", "", a.deleteReleaseFile},
		)
	}
	for _, base := range []string{"/api/0/projects/{org}/{project}/files/source-maps/", "/api/0/organizations/{org}/files/source-maps/"} {
		out = append(out, route{"DELETE", base, "Delete every file of the release ?name= names (sentry-cli 2.x's releases files VERSION delete --all)",
			user, accounts.LevelWrite, 204, "", "", a.deleteReleaseFiles})
	}
	return out
}

// ReleaseFile is a file of a release, as sentry-cli reads it.
type ReleaseFile struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Dist        *string           `json:"dist"`
	Headers     map[string]string `json:"headers"`
	Size        int64             `json:"size"`
	SHA1        string            `json:"sha1"`
	DateCreated time.Time         `json:"dateCreated"`
}

// releaseFileID names a file of a bundle.
func releaseFileID(checksum, path string) string {
	s := sha1.Sum([]byte(checksum + "\x00" + path))
	return hex.EncodeToString(s[:10])
}

// releaseProjects are the projects a release file is uploaded for: the
// project of the path, which the release must belong to, or every project
// of the release.
func (c *call) releaseProjects(ctx context.Context) (*Release, []int64, error) {
	_, rel, err := c.release(ctx)
	if err != nil {
		return nil, nil, err
	}
	var ids []int64
	for _, p := range rel.Projects {
		if c.project == nil || p.ID == c.project.ID {
			ids = append(ids, p.ID)
		}
	}
	if len(ids) == 0 {
		if c.project != nil {
			return nil, nil, &httpError{http.StatusNotFound, "the release does not belong to this project"}
		}
		return nil, nil, &httpError{http.StatusBadRequest, "the release has no project to upload files for"}
	}
	return rel, ids, nil
}

func (a *API) listReleaseFiles(c *call) (any, error) {
	if _, err := c.uploadStore(a); err != nil {
		return nil, err // a process without uploads has no index to read either
	}
	ctx := c.r.Context()
	rel, projects, err := c.releaseProjects(ctx)
	if err != nil {
		return nil, err
	}
	return page(c, func(limit, offset int) ([]ReleaseFile, error) {
		rows, err := c.store.Pool().Query(ctx, `SELECT DISTINCT ON (b.id, f.path) b.checksum, f.path, f.url, f.dist, f.type,
				f.sourcemap, f.debug_id, f.object, f.size, b.updated
			FROM sourcemaps.files f JOIN sourcemaps.bundles b ON b.id = f.bundle_id
			WHERE b.org_id = $1 AND f.project_id = ANY($2) AND f.release = $3
			ORDER BY b.id DESC, f.path LIMIT $4 OFFSET $5`, c.org.ID, projects, rel.Version, limit, offset)
		if err != nil {
			return nil, fmt.Errorf("list release files: %w", err)
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ReleaseFile, error) {
			var f ReleaseFile
			var checksum, path, dist, typ, sm, debugID string
			if err := r.Scan(&checksum, &path, &f.Name, &dist, &typ, &sm, &debugID, &f.SHA1, &f.Size, &f.DateCreated); err != nil {
				return f, err
			}
			f.ID, f.Dist, f.Headers = releaseFileID(checksum, path), nullIfEmpty(dist), map[string]string{}
			if sm != "" {
				f.Headers["Sourcemap"] = sm
			}
			if debugID != "" {
				f.Headers["debug-id"] = debugID
			}
			return f, nil
		})
	})
}

// releaseFileUpload is what one upload request carries.
type releaseFileUpload struct {
	name, dist string
	headers    map[string]string
	data       []byte
}

func readReleaseFile(c *call) (*releaseFileUpload, error) {
	mt, params, err := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, &httpError{http.StatusBadRequest, "want a multipart/form-data body"}
	}
	mr := multipart.NewReader(http.MaxBytesReader(c.w, c.r.Body, maxReleaseFileSize+1<<20), params["boundary"])
	up := &releaseFileUpload{headers: map[string]string{}}
	var fileName string
	seen := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &httpError{http.StatusBadRequest, "reading the multipart body: " + err.Error()}
		}
		limit := int64(4096)
		if part.FormName() == "file" {
			limit = maxReleaseFileSize
		}
		data, err := io.ReadAll(io.LimitReader(part, limit+1))
		if err != nil {
			return nil, &httpError{http.StatusBadRequest, "reading the multipart body: " + err.Error()}
		}
		if int64(len(data)) > limit {
			return nil, &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("%s: over %d bytes", part.FormName(), limit)}
		}
		switch part.FormName() {
		case "file":
			up.data, fileName, seen = data, part.FileName(), true
		case "name":
			up.name = strings.TrimSpace(string(data))
		case "dist":
			up.dist = strings.TrimSpace(string(data))
		case "header":
			k, v, ok := strings.Cut(string(data), ":")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("header %q: want Key:Value", data)}
			}
			up.headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if !seen {
		return nil, &httpError{http.StatusBadRequest, "file: missing"}
	}
	if up.name == "" {
		up.name = fileName
	}
	if up.name == "" || len(up.name) > 1024 || strings.ContainsAny(up.name, "\x00\n\r") {
		return nil, &httpError{http.StatusBadRequest, "name: want the file's URL (such as ~/static/app.min.js), at most 1024 characters"}
	}
	if len(up.dist) > 64 || len(up.headers) > 32 {
		return nil, &httpError{http.StatusBadRequest, "dist is over 64 characters or there are over 32 headers"}
	}
	return up, nil
}

// releaseFileType is the bundle type of a file named name: a map, a script
// (looked up as the minified file of a frame) or another source.
func releaseFileType(name string, data []byte) string {
	base := name
	if i := strings.IndexAny(base, "?#"); i >= 0 {
		base = base[:i]
	}
	switch ext := strings.ToLower(path.Ext(base)); {
	case ext == ".map":
		return sourcemap.TypeSourceMap
	case ext == ".js" || ext == ".mjs" || ext == ".cjs" || ext == ".jsbundle" || ext == ".bundle":
		return sourcemap.TypeMinifiedSource
	case bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) && bytes.Contains(data, []byte(`"mappings"`)):
		return sourcemap.TypeSourceMap
	}
	return sourcemap.TypeSource
}

// sourceMappingURL is the map a script's last sourceMappingURL comment
// names, or "" (also for an inline data: URL).
func sourceMappingURL(data []byte) string {
	tail := data[max(0, len(data)-4096):]
	for _, prefix := range []string{"//# sourceMappingURL=", "//@ sourceMappingURL="} {
		if i := bytes.LastIndex(tail, []byte(prefix)); i >= 0 {
			ref := string(bytes.TrimSpace(bytes.SplitN(tail[i+len(prefix):], []byte("\n"), 2)[0]))
			if ref != "" && !strings.HasPrefix(ref, "data:") {
				return ref
			}
		}
	}
	return ""
}

// oneFileBundle is an artifact bundle holding up's file with headers, as
// sentry-cli would build it; the same upload gives the same bytes.
func oneFileBundle(org, release string, up *releaseFileUpload, typ string, headers map[string]string) ([]byte, error) {
	const file = "files/_/_/0"
	manifest, err := json.Marshal(map[string]any{"org": org, "release": release, "dist": up.dist,
		"files": map[string]any{file: map[string]any{"url": up.name, "type": typ, "headers": headers}}})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
	}{{"manifest.json", manifest}, {file, up.data}} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// fileHeaders are up's headers, with the Sourcemap header a script's
// sourceMappingURL comment gives when it was not sent.
func fileHeaders(up *releaseFileUpload, typ string) map[string]string {
	headers := map[string]string{}
	has := false
	for k, v := range up.headers {
		headers[k] = v
		has = has || strings.EqualFold(k, "sourcemap") || strings.EqualFold(k, "x-sourcemap")
	}
	if typ == sourcemap.TypeMinifiedSource && !has {
		if ref := sourceMappingURL(up.data); ref != "" {
			headers["Sourcemap"] = ref
		}
	}
	return headers
}

func (a *API) uploadReleaseFile(c *call) (any, error) {
	u, err := c.uploadStore(a)
	if err != nil {
		return nil, err
	}
	ctx := c.r.Context()
	rel, projects, err := c.releaseProjects(ctx)
	if err != nil {
		return nil, err
	}
	up, err := readReleaseFile(c)
	if err != nil {
		return nil, err
	}
	var exists bool
	if err := c.store.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sourcemaps.files f JOIN sourcemaps.bundles b ON b.id = f.bundle_id
		WHERE b.org_id = $1 AND f.project_id = ANY($2) AND f.release = $3 AND f.dist = $4 AND f.url = $5)`,
		c.org.ID, projects, rel.Version, up.dist, up.name).Scan(&exists); err != nil {
		return nil, fmt.Errorf("look up release file: %w", err)
	}
	if exists {
		return nil, &httpError{http.StatusConflict, "a file of this name already exists for the release"}
	}
	typ := releaseFileType(up.name, up.data)
	headers := fileHeaders(up, typ)
	zipped, err := oneFileBundle(c.org.Slug, rel.Version, up, typ, headers)
	if err != nil {
		return nil, fmt.Errorf("bundle release file: %w", err)
	}
	var chunks []string
	for off := 0; off < len(zipped); off += chunkSize {
		piece := zipped[off:min(off+chunkSize, len(zipped))]
		name := sha1Hex(piece)
		if _, err := u.chunks.PutBytes(ctx, name, piece); err != nil {
			return nil, fmt.Errorf("store chunk %s: %w", name, err)
		}
		chunks = append(chunks, name)
	}
	checksum := sha1Hex(zipped)
	cmd := streams.AssembleCommand{OrgID: c.org.ID, Checksum: checksum, Chunks: chunks, ProjectIDs: projects,
		Release: rel.Version, Dist: up.dist, At: time.Now().UTC()}
	body, err := cmd.Encode()
	if err != nil {
		return nil, err
	}
	// No Nats-Msg-Id: each upload is one request, and the same file
	// uploaded again after a delete must be assembled again, however soon.
	if _, err := u.js.Publish(ctx, streams.AssembleSubject(c.org.ID), body); err != nil {
		return nil, &httpError{http.StatusServiceUnavailable, "cannot queue the file's assembly now, retry later"}
	}
	return ReleaseFile{ID: releaseFileID(checksum, "files/_/_/0"), Name: up.name, Dist: nullIfEmpty(up.dist),
		Headers: headers, Size: int64(len(up.data)), SHA1: sha1Hex(up.data), DateCreated: time.Now().UTC()}, nil
}

// deleteWait is how long a delete waits for the sourcemaps role to have
// applied it before answering; past it the delete still happens.
const deleteWait = 10 * time.Second

func (a *API) deleteReleaseFile(c *call) (any, error) {
	u, err := c.uploadStore(a)
	if err != nil {
		return nil, err
	}
	ctx := c.r.Context()
	rel, projects, err := c.releaseProjects(ctx)
	if err != nil {
		return nil, err
	}
	id := c.param("file_id")
	// File ids are derived from the bundle and the path (releaseFileID),
	// so the release's files are read to find it.
	rows, err := c.store.Pool().Query(ctx, `SELECT DISTINCT b.checksum, f.path
		FROM sourcemaps.files f JOIN sourcemaps.bundles b ON b.id = f.bundle_id
		WHERE b.org_id = $1 AND f.project_id = ANY($2) AND f.release = $3`, c.org.ID, projects, rel.Version)
	if err != nil {
		return nil, fmt.Errorf("look up release file: %w", err)
	}
	type file struct{ Checksum, Path string }
	files, err := pgx.CollectRows(rows, pgx.RowToStructByPos[file])
	if err != nil {
		return nil, fmt.Errorf("look up release file: %w", err)
	}
	var found *file
	for i := range files {
		if releaseFileID(files[i].Checksum, files[i].Path) == id {
			found = &files[i]
			break
		}
	}
	if found == nil {
		return nil, errNotFound
	}
	cmd := streams.DeleteCommand{OrgID: c.org.ID, ProjectIDs: projects, Release: rel.Version, Checksum: found.Checksum,
		Path: found.Path, At: time.Now().UTC()}
	if err := publishDelete(ctx, u, &cmd); err != nil {
		return nil, err
	}
	return nil, c.waitDeleted(ctx, `SELECT EXISTS (SELECT 1 FROM sourcemaps.files f JOIN sourcemaps.bundles b ON b.id = f.bundle_id
		WHERE b.org_id = $1 AND b.checksum = $2 AND f.path = $3 AND f.project_id = ANY($4) AND f.release = $5)`,
		c.org.ID, found.Checksum, found.Path, projects, rel.Version)
}

func (a *API) deleteReleaseFiles(c *call) (any, error) {
	u, err := c.uploadStore(a)
	if err != nil {
		return nil, err
	}
	name := c.r.URL.Query().Get("name")
	if name == "" {
		return nil, &httpError{http.StatusBadRequest, "name: the release whose files to delete is required"}
	}
	ctx := c.r.Context()
	rctx := chi.RouteContext(ctx)
	rctx.URLParams.Add("version", name)
	rel, projects, err := c.releaseProjects(ctx)
	if err != nil {
		return nil, err
	}
	cmd := streams.DeleteCommand{OrgID: c.org.ID, ProjectIDs: projects, Release: rel.Version, At: time.Now().UTC()}
	if err := publishDelete(ctx, u, &cmd); err != nil {
		return nil, err
	}
	return nil, c.waitDeleted(ctx, `SELECT EXISTS (SELECT 1 FROM sourcemaps.files f JOIN sourcemaps.bundles b ON b.id = f.bundle_id
		WHERE b.org_id = $1 AND f.project_id = ANY($2) AND f.release = $3 AND b.updated <= $4)`, c.org.ID, projects, rel.Version, cmd.At)
}

// waitDeleted polls exists (a query of one boolean) until it is false or
// deleteWait passed, so that a listing after the answer does not show what
// was deleted.
func (c *call) waitDeleted(ctx context.Context, exists string, args ...any) error {
	deadline := time.Now().Add(deleteWait)
	for time.Now().Before(deadline) {
		var found bool
		if err := c.store.Pool().QueryRow(ctx, exists, args...).Scan(&found); err != nil {
			return fmt.Errorf("look up release files: %w", err)
		}
		if !found {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// publishDelete queues cmd for the sourcemaps role.
func publishDelete(ctx context.Context, u *uploads, cmd *streams.DeleteCommand) error {
	body, err := cmd.Encode()
	if err != nil {
		return err
	}
	msg := nats.NewMsg(streams.DeleteSubject(cmd.OrgID))
	msg.Data = body
	msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("delete:%d:%s", cmd.OrgID, sha1Hex(body)))
	if _, err := u.js.PublishMsg(ctx, msg); err != nil {
		return &httpError{http.StatusServiceUnavailable, "cannot queue the delete now, retry later"}
	}
	return nil
}

func sha1Hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}
