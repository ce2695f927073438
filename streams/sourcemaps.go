package streams

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Source maps: sentry-cli uploads chunks to the api, which stores them in
// ChunksBucket and publishes an AssembleCommand on SOURCEMAPS; the
// sourcemaps role assembles the chunks into an artifact bundle, stores each
// of its files in ArtifactsBucket and indexes them in its schema. Nothing
// else writes that schema: deleting a release file or a release is a
// DeleteCommand the role applies, and it deletes the stored objects no file
// refers to any more.
const (
	Sourcemaps      = "SOURCEMAPS"
	ChunksBucket    = "faultline_chunks"    // uploaded chunks by SHA-1, dropped after ChunkTTL
	ArtifactsBucket = "faultline_artifacts" // bundle files by the SHA-1 of their content
	ChunkTTL        = 24 * time.Hour
)

// AssembleSubject is the subject assemble commands of an organisation are
// published on.
func AssembleSubject(orgID int64) string { return fmt.Sprintf("sourcemaps.assemble.%d", orgID) }

// AssembleCommand asks the sourcemaps role to assemble an uploaded artifact
// bundle: the chunks, in order, make a zip whose SHA-1 is Checksum. Its
// Nats-Msg-Id is AssembleMsgID's, so a command sent again while the first
// waits is stored once.
type AssembleCommand struct {
	OrgID      int64     `json:"org_id"`
	Checksum   string    `json:"checksum"`
	Chunks     []string  `json:"chunks"`
	ProjectIDs []int64   `json:"project_ids"`
	Release    string    `json:"release,omitempty"`
	Dist       string    `json:"dist,omitempty"`
	At         time.Time `json:"at"`
}

// Encode is the command's message body.
func (c *AssembleCommand) Encode() ([]byte, error) { return json.Marshal(c) }

// AssembleMsgID is the Nats-Msg-Id of the command assembling bundle
// checksum of org: "<org>:<checksum>", and ":d<seq>" after a delete, where
// seq is the stream sequence of the organisation's latest DeleteCommand.
// sentry-cli asks for an assembly again and again while it waits, and the
// duplicate window stores that once; a bundle uploaded again after a
// delete must be assembled again however soon, and the delete's sequence
// makes its id new.
func AssembleMsgID(orgID int64, checksum string, deleteSeq uint64) string {
	id := fmt.Sprintf("%d:%s", orgID, checksum)
	if deleteSeq > 0 {
		id += fmt.Sprintf(":d%d", deleteSeq)
	}
	return id
}

// DecodeAssemble reads an AssembleCommand.
func DecodeAssemble(b []byte) (*AssembleCommand, error) {
	var c AssembleCommand
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("assemble command: %w", err)
	}
	if c.OrgID <= 0 || len(c.Checksum) != 40 || len(c.Chunks) == 0 || len(c.ProjectIDs) == 0 {
		return nil, fmt.Errorf("assemble command: org, checksum, chunks and projects are required")
	}
	return &c, nil
}

// DeleteSubject is the subject delete commands of an organisation are
// published on.
func DeleteSubject(orgID int64) string { return fmt.Sprintf("sourcemaps.delete.%d", orgID) }

// DeleteCommand asks the sourcemaps role to drop the files of Release in
// the projects from its index: all of them, or, with Checksum, the file at
// Path of the bundle whose SHA-1 is Checksum. Bundles left without files
// are dropped, and so are the stored objects no file refers to any more;
// bundles left with some are marked "partial", so that uploading one again
// assembles it again.
type DeleteCommand struct {
	OrgID      int64     `json:"org_id"`
	ProjectIDs []int64   `json:"project_ids"`
	Release    string    `json:"release"`
	Checksum   string    `json:"checksum,omitempty"`
	Path       string    `json:"path,omitempty"`
	At         time.Time `json:"at"`
}

// Encode is the command's message body.
func (c *DeleteCommand) Encode() ([]byte, error) { return json.Marshal(c) }

// DecodeDelete reads a DeleteCommand.
func DecodeDelete(b []byte) (*DeleteCommand, error) {
	var c DeleteCommand
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("delete command: %w", err)
	}
	if c.OrgID <= 0 || len(c.ProjectIDs) == 0 || (c.Checksum != "" && (len(c.Checksum) != 40 || c.Path == "")) {
		return nil, fmt.Errorf("delete command: org and projects are required, and a path with a checksum")
	}
	return &c, nil
}

// SourcemapsConfig is the SOURCEMAPS stream's definition.
func SourcemapsConfig(o IngestOptions) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        Sourcemaps,
		Description: "Commands to the sourcemaps role: assemble uploaded artifact bundles, delete release files.",
		Subjects:    []string{"sourcemaps.>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      ChunkTTL, // its chunks are gone by then anyway
		MaxMsgSize:  1 << 20,
		Replicas:    max(o.Replicas, 1),
		Duplicates:  2 * time.Minute,
	}
}

// ChunksConfig is the object store of uploaded chunks: those never
// assembled expire after a day.
func ChunksConfig(o IngestOptions) jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{
		Bucket:      ChunksBucket,
		Description: "source map upload chunks by SHA-1, until assembled",
		TTL:         ChunkTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    max(o.Replicas, 1),
	}
}

// ArtifactsConfig is the object store of assembled bundles' files.
func ArtifactsConfig(o IngestOptions) jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{
		Bucket:      ArtifactsBucket,
		Description: "files of assembled artifact bundles (minified sources, source maps) by content SHA-1",
		Storage:     jetstream.FileStorage,
		Compression: true,
		Replicas:    max(o.Replicas, 1),
	}
}

// applySourcemaps creates or updates the SOURCEMAPS stream and its buckets.
func applySourcemaps(ctx context.Context, js jetstream.JetStream, o IngestOptions) error {
	if _, err := js.CreateOrUpdateStream(ctx, SourcemapsConfig(o)); err != nil {
		return fmt.Errorf("apply stream %s: %w", Sourcemaps, err)
	}
	for _, c := range []jetstream.ObjectStoreConfig{ChunksConfig(o), ArtifactsConfig(o)} {
		if _, err := js.CreateOrUpdateObjectStore(ctx, c); err != nil {
			return fmt.Errorf("apply object store %s: %w", c.Bucket, err)
		}
	}
	return nil
}
