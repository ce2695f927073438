package api

import (
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/streams"
)

// Source-map uploads as sentry-cli makes them: chunks of a file, named by
// their SHA-1, to chunk-upload/; then the file's assembly, by its SHA-1 and
// its chunks' names, to artifactbundle/assemble/. Chunks go to the
// faultline_chunks object store; assembly is a command to the sourcemaps
// role, whose progress the api reads from the sourcemaps schema.

// Chunk upload limits, announced to sentry-cli.
const (
	chunkSize        = 8 << 20
	chunksPerRequest = 64
	maxRequestSize   = 32 << 20
	maxFileSize      = 1 << 30 // an assembled bundle; the sourcemaps role's limit too
	uploadChunks     = 8       // concurrency
)

// Uploads give the api the object store and stream that source-map uploads
// use. Without them (SetUploads not called) the upload routes answer 503.
type uploads struct {
	js       jetstream.JetStream
	chunks   jetstream.ObjectStore
	commands jetstream.Stream // SOURCEMAPS, for the latest delete's sequence
}

// SetUploads connects the upload routes to JetStream; the streams must have
// been applied.
func (a *API) SetUploads(ctx context.Context, js jetstream.JetStream) error {
	chunks, err := js.ObjectStore(ctx, streams.ChunksBucket)
	if err != nil {
		return fmt.Errorf("open object store %s: %w", streams.ChunksBucket, err)
	}
	commands, err := js.Stream(ctx, streams.Sourcemaps)
	if err != nil {
		return fmt.Errorf("open stream %s: %w", streams.Sourcemaps, err)
	}
	a.uploads.Store(&uploads{js: js, chunks: chunks, commands: commands})
	return nil
}

// deleteSeq is the stream sequence of org's latest delete command, 0 when
// the stream keeps none (streams.AssembleMsgID).
func (u *uploads) deleteSeq(ctx context.Context, org int64) (uint64, error) {
	m, err := u.commands.GetLastMsgForSubject(ctx, streams.DeleteSubject(org))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("latest delete: %w", err)
	}
	return m.Sequence, nil
}

func (c *call) uploadStore(a *API) (*uploads, error) {
	u := a.uploads.Load()
	if u == nil {
		return nil, &httpError{http.StatusServiceUnavailable, "source-map uploads are not available in this process"}
	}
	return u, nil
}

func (a *API) sourcemapRoutes() []route {
	const org = "/api/0/organizations/{org}/"
	return append([]route{
		{"GET", org + "chunk-upload/", "Chunk upload options for sentry-cli", user, accounts.LevelWrite, 200, "", "ChunkUploadOptions", a.chunkOptions},
		{"POST", org + "chunk-upload/", "Upload chunks (multipart file_gzip or file, each named by its SHA-1)", user, accounts.LevelWrite, 200, "", "", a.uploadChunks},
		{"POST", org + "artifactbundle/assemble/", "Assemble an uploaded artifact bundle from its chunks", user, accounts.LevelWrite, 200, "AssembleBundle", "AssembleState", a.assembleBundle},
	}, append(a.releaseRoutes(), a.releaseFileRoutes()...)...)
}

// ChunkUploadOptions is what sentry-cli reads before uploading.
type ChunkUploadOptions struct {
	URL              string   `json:"url"`
	ChunkSize        int      `json:"chunkSize"`
	ChunksPerRequest int      `json:"chunksPerRequest"`
	MaxFileSize      int64    `json:"maxFileSize"`
	MaxRequestSize   int      `json:"maxRequestSize"`
	Concurrency      int      `json:"concurrency"`
	HashAlgorithm    string   `json:"hashAlgorithm"`
	Compression      []string `json:"compression"`
	Accept           []string `json:"accept"`
}

func (a *API) chunkOptions(c *call) (any, error) {
	return ChunkUploadOptions{
		URL:       strings.TrimRight(c.storePublicURL(), "/") + "/api/0/organizations/" + c.org.Slug + "/chunk-upload/",
		ChunkSize: chunkSize, ChunksPerRequest: chunksPerRequest, MaxFileSize: maxFileSize,
		MaxRequestSize: maxRequestSize, Concurrency: uploadChunks, HashAlgorithm: "sha1",
		Compression: []string{"gzip"},
		Accept:      []string{"artifact_bundles", "artifact_bundles_v2", "release_files", "sources"},
	}, nil
}

func (a *API) uploadChunks(c *call) (any, error) {
	u, err := c.uploadStore(a)
	if err != nil {
		return nil, err
	}
	mt, params, err := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, &httpError{http.StatusBadRequest, "want a multipart/form-data body"}
	}
	mr := multipart.NewReader(http.MaxBytesReader(c.w, c.r.Body, maxRequestSize+1<<20), params["boundary"])
	n := 0
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &httpError{http.StatusBadRequest, "reading the multipart body: " + err.Error()}
		}
		field := part.FormName()
		if field != "file" && field != "file_gzip" {
			continue
		}
		if n++; n > chunksPerRequest {
			return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("at most %d chunks per request", chunksPerRequest)}
		}
		name := strings.ToLower(part.FileName())
		if !isSHA1(name) {
			return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("chunk name %q is not a SHA-1", part.FileName())}
		}
		data, err := readChunk(part, field == "file_gzip")
		if err != nil {
			return nil, &httpError{http.StatusBadRequest, "chunk " + name + ": " + err.Error()}
		}
		sum := sha1.Sum(data)
		if hex.EncodeToString(sum[:]) != name {
			return nil, &httpError{http.StatusBadRequest, "chunk " + name + ": its content's SHA-1 is " + hex.EncodeToString(sum[:])}
		}
		if _, err := u.chunks.PutBytes(c.r.Context(), name, data); err != nil {
			return nil, fmt.Errorf("store chunk %s: %w", name, err)
		}
	}
	return nil, nil
}

// readChunk reads one chunk, decompressed, of at most chunkSize bytes.
func readChunk(r io.Reader, gzipped bool) ([]byte, error) {
	if gzipped {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("not gzip: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	data, err := io.ReadAll(io.LimitReader(r, chunkSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > chunkSize {
		return nil, fmt.Errorf("over %d bytes", chunkSize)
	}
	return data, nil
}

func isSHA1(s string) bool {
	if len(s) != 40 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// AssembleBundle is sentry-cli's request to assemble an artifact bundle.
type AssembleBundle struct {
	Checksum string   `json:"checksum"`
	Chunks   []string `json:"chunks"`
	Projects []string `json:"projects"`
	Version  string   `json:"version"`
	Dist     string   `json:"dist"`
}

// AssembleState is where an assembly is: not_found (missingChunks lists the
// chunks to upload first), created, assembling, ok or error.
type AssembleState struct {
	State         string   `json:"state"`
	MissingChunks []string `json:"missingChunks"`
	Detail        *string  `json:"detail"`
}

func (a *API) assembleBundle(c *call) (any, error) {
	u, err := c.uploadStore(a)
	if err != nil {
		return nil, err
	}
	var req AssembleBundle
	if err := c.decode(&req); err != nil { // at most 1 MiB
		return nil, err
	}
	req.Checksum = strings.ToLower(req.Checksum)
	if !isSHA1(req.Checksum) {
		return nil, &httpError{http.StatusBadRequest, "checksum: want a SHA-1"}
	}
	if len(req.Chunks) == 0 || len(req.Chunks) > maxFileSize/chunkSize {
		return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("chunks: want 1 to %d", maxFileSize/chunkSize)}
	}
	for i, ch := range req.Chunks {
		if req.Chunks[i] = strings.ToLower(ch); !isSHA1(req.Chunks[i]) {
			return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("chunks[%d]: want a SHA-1", i)}
		}
	}
	if len(req.Projects) == 0 || len(req.Projects) > 100 {
		return nil, &httpError{http.StatusBadRequest, "projects: want 1 to 100 project slugs"}
	}
	if len(req.Version) > 200 || len(req.Dist) > 64 {
		return nil, &httpError{http.StatusBadRequest, "version or dist is too long"}
	}
	ctx := c.r.Context()
	var ids []int64
	for _, slug := range req.Projects {
		p, err := c.store.OrgProject(ctx, c.org.ID, slug)
		if errors.Is(err, accounts.ErrNotFound) {
			return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("projects: no project %q in this organization", slug)}
		}
		if err != nil {
			return nil, err
		}
		ids = append(ids, p.ID)
	}
	var state, detail string
	err = c.store.Pool().QueryRow(ctx, `SELECT state, detail FROM sourcemaps.bundles WHERE org_id = $1 AND checksum = $2`,
		c.org.ID, req.Checksum).Scan(&state, &detail)
	switch {
	case err == nil && state == "error":
		return AssembleState{State: "error", MissingChunks: []string{}, Detail: &detail}, nil
	case err == nil && state == "partial":
		// Some of its files were deleted: assembled again, as if new.
	case err == nil:
		return AssembleState{State: state, MissingChunks: []string{}}, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("read bundle state: %w", err)
	}
	missing := []string{}
	for _, ch := range req.Chunks {
		if _, err := u.chunks.GetInfo(ctx, ch); errors.Is(err, jetstream.ErrObjectNotFound) {
			missing = append(missing, ch)
		} else if err != nil {
			return nil, fmt.Errorf("look up chunk %s: %w", ch, err)
		}
	}
	if len(missing) > 0 {
		return AssembleState{State: "not_found", MissingChunks: missing}, nil
	}
	cmd := streams.AssembleCommand{OrgID: c.org.ID, Checksum: req.Checksum, Chunks: req.Chunks, ProjectIDs: ids,
		Release: req.Version, Dist: req.Dist, At: time.Now().UTC()}
	body, err := cmd.Encode()
	if err != nil {
		return nil, err
	}
	seq, err := u.deleteSeq(ctx, c.org.ID)
	if err != nil {
		return nil, &httpError{http.StatusServiceUnavailable, "cannot queue the assembly now, retry later"}
	}
	msg := nats.NewMsg(streams.AssembleSubject(c.org.ID))
	msg.Data = body
	msg.Header.Set(jetstream.MsgIDHeader, streams.AssembleMsgID(c.org.ID, req.Checksum, seq))
	if _, err := u.js.PublishMsg(ctx, msg); err != nil {
		return nil, &httpError{http.StatusServiceUnavailable, "cannot queue the assembly now, retry later"}
	}
	return AssembleState{State: "created", MissingChunks: []string{}}, nil
}
