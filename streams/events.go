package streams

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The EVENTS stream: what grouping decided. Two kinds of messages:
//
//   - events.<project>.grouped: an event and the issue it joined. The
//     fields are headers (HeaderProject, HeaderEventID, HeaderIssueID,
//     HeaderHashes, HeaderReceived); the body is the normalized event as
//     JSON compressed with zstd (HeaderContentEncoding "zstd"), the bytes
//     grouping stores in Postgres. DecodeGrouped reads it.
//   - events.<project>.regrouped: a stored event that a decision
//     (reprocess) moved to another issue or rewrote, as it is now:
//     EncodeRegrouped writes it, DecodeRegrouped reads it. Nothing new
//     happened (alerting does not read it); analytics overwrites the
//     event's row with it.
//   - issues.<project>.<change>: an IssueMessage as JSON.

// Issue statuses.
const (
	StatusUnresolved            = "unresolved"
	StatusResolved              = "resolved"
	StatusResolvedInNextRelease = "resolved_in_next_release"
	StatusResolvedInRelease     = "resolved_in_release"
	StatusIgnored               = "ignored"
)

// Issue changes published on issues.<project>.<change>.
const (
	ChangeCreated   = "created"
	ChangeRegressed = "regressed"
	ChangeUnignored = "unignored" // an ignored issue came back: its ignore's condition was met
	ChangeMerged    = "merged"    // IssueMessage.IssueID is the parent; Children went into it

	// Changes people decided (DECISIONS), applied by grouping.
	ChangeResolved   = "resolved" // Status says which kind of resolution
	ChangeIgnored    = "ignored"
	ChangeUnresolved = "unresolved"
	ChangeAssigned   = "assigned" // IssueMessage.Assignee is who, "" for nobody
	ChangeUnmerged   = "unmerged" // IssueMessage.Children are the issues split off IssueID
	ChangeDeleted    = "deleted"  // the issue and its events are gone
)

// GroupedSubject is the subject of an event grouped in project.
func GroupedSubject(project int64) string {
	return "events." + strconv.FormatInt(project, 10) + ".grouped"
}

// RegroupedSubject is the subject of a stored event regrouped in project.
func RegroupedSubject(project int64) string {
	return "events." + strconv.FormatInt(project, 10) + ".regrouped"
}

// IssueSubject is the subject of an issue's change.
func IssueSubject(project int64, change string) string {
	return "issues." + strconv.FormatInt(project, 10) + "." + change
}

// GroupedMessage is what an events.<project>.grouped message says: the
// event, its issue and its hashes.
type GroupedMessage struct {
	ProjectID int64           `json:"project_id"`
	EventID   string          `json:"event_id"` // 32 hex digits
	IssueID   int64           `json:"issue_id"`
	Hashes    []string        `json:"hashes"` // primary first
	Received  time.Time       `json:"received"`
	Event     json.RawMessage `json:"event"` // the normalized event
	// Changes are the issue changes (created, regressed, unignored) the
	// event caused; grouping publishes each as an issues.<project>.<change>
	// message naming the event, before the event's own message. ChangesTold
	// is false when the publisher did not say (HeaderChanges absent: a
	// message republished by grouping's outbox sweeper, or from a grouping
	// that predates the header): then any change may name the event.
	Changes     []string `json:"changes,omitempty"`
	ChangesTold bool     `json:"-"`
}

// IssueMessage is the body of issues.<project>.<change>.
type IssueMessage struct {
	ProjectID int64     `json:"project_id"`
	IssueID   int64     `json:"issue_id"`
	Change    string    `json:"change"`
	Status    string    `json:"status"`
	Title     string    `json:"title"`
	Culprit   string    `json:"culprit"`
	Level     string    `json:"level"`
	EventID   string    `json:"event_id"` // the event that caused the change; "" for a decision or the passing of an ignore's time
	At        time.Time `json:"at"`
	Children  []int64   `json:"children,omitempty"` // merged: the issues merged into IssueID, now deleted; unmerged: the new issues
	Assignee  *string   `json:"assignee,omitempty"` // assigned: the new assignee, "" for nobody
	Decision  string    `json:"decision,omitempty"` // the id of the decision that made the change, if one did
	Actor     *Actor    `json:"actor,omitempty"`    // who decided it, for a decision
}

// GroupedHeader is the header of an events.<project>.grouped message for
// the given fields (the body is the zstd-compressed event).
func GroupedHeader(msgID string, project int64, eventID string, issueID int64, hashes []string, received time.Time) nats.Header {
	return nats.Header{
		jetstream.MsgIDHeader: {msgID},
		HeaderProject:         {strconv.FormatInt(project, 10)},
		HeaderEventID:         {eventID},
		HeaderIssueID:         {strconv.FormatInt(issueID, 10)},
		HeaderHashes:          {strings.Join(hashes, ",")},
		HeaderReceived:        {received.UTC().Format(time.RFC3339Nano)},
		HeaderContentEncoding: {"zstd"},
	}
}

// SetChanges tells, in h, the issue changes a grouped event caused: none
// when changes is empty.
func SetChanges(h nats.Header, changes []string) {
	v := "none"
	if len(changes) > 0 {
		v = strings.Join(changes, ",")
	}
	h[HeaderChanges] = []string{v}
}

// DecodeGrouped reads an events.<project>.grouped message. dec may be
// shared; zstd.Decoder.DecodeAll is safe for concurrent use.
//
// With a nil dec only the headers are read, and Event stays nil.
func DecodeGrouped(h nats.Header, body []byte, dec *zstd.Decoder) (GroupedMessage, error) {
	var g GroupedMessage
	var err error
	if g.ProjectID, err = strconv.ParseInt(h.Get(HeaderProject), 10, 64); err != nil {
		return g, fmt.Errorf("grouped message: header %s: %w", HeaderProject, err)
	}
	if g.IssueID, err = strconv.ParseInt(h.Get(HeaderIssueID), 10, 64); err != nil {
		return g, fmt.Errorf("grouped message: header %s: %w", HeaderIssueID, err)
	}
	if g.Received, err = time.Parse(time.RFC3339Nano, h.Get(HeaderReceived)); err != nil {
		return g, fmt.Errorf("grouped message: header %s: %w", HeaderReceived, err)
	}
	g.EventID = h.Get(HeaderEventID)
	if hs := h.Get(HeaderHashes); hs != "" {
		g.Hashes = strings.Split(hs, ",")
	}
	if v, ok := h[HeaderChanges]; ok && len(v) > 0 {
		g.ChangesTold = true
		if v[0] != "none" && v[0] != "" {
			g.Changes = strings.Split(v[0], ",")
		}
	}
	if dec == nil {
		return g, nil // the headers only: the caller has no use for the event
	}
	if enc := h.Get(HeaderContentEncoding); enc != "zstd" {
		return g, fmt.Errorf("grouped message: content encoding %q, want zstd", enc)
	}
	if g.Event, err = dec.DecodeAll(body, nil); err != nil {
		return g, fmt.Errorf("grouped message: decompress the event: %w", err)
	}
	return g, nil
}

// RegroupedMessage is what an events.<project>.regrouped message says:
// an event a decision moved or rewrote, the issue it is in now and its
// hashes.
type RegroupedMessage struct {
	ProjectID int64     `json:"project_id"`
	EventID   string    `json:"event_id"` // 32 hex digits
	IssueID   int64     `json:"issue_id"` // where the event is now
	Hashes    []string  `json:"hashes"`
	Received  time.Time `json:"received"` // when the event first came, as in its grouped message
	Decision  string    `json:"decision"` // the decision that regrouped it
	Event     []byte    `json:"-"`        // the normalized event as JSON compressed with zstd, as grouping stores it
}

// EncodeRegrouped is the body of m's events.<project>.regrouped message:
// m without its event as one line of JSON, a newline, then the event's
// compressed bytes as they are (a body no larger than its grouped
// message's).
func EncodeRegrouped(m RegroupedMessage) []byte {
	b, _ := json.Marshal(m) // nothing in it can fail to encode, and JSON escapes newlines
	return append(append(b, '\n'), m.Event...)
}

// DecodeRegrouped reads an events.<project>.regrouped message as the
// grouped message it replaces: the event decompressed with dec.
func DecodeRegrouped(body []byte, dec *zstd.Decoder) (GroupedMessage, error) {
	line, event, ok := bytes.Cut(body, []byte{'\n'})
	if !ok {
		return GroupedMessage{}, errors.New("regrouped message: no event after the first line")
	}
	var m RegroupedMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return GroupedMessage{}, fmt.Errorf("regrouped message: %w", err)
	}
	if m.ProjectID <= 0 || m.IssueID <= 0 || m.EventID == "" {
		return GroupedMessage{}, fmt.Errorf("regrouped message: project %d, issue %d, event %q", m.ProjectID, m.IssueID, m.EventID)
	}
	g := GroupedMessage{ProjectID: m.ProjectID, EventID: m.EventID, IssueID: m.IssueID, Hashes: m.Hashes, Received: m.Received}
	var err error
	if g.Event, err = dec.DecodeAll(event, nil); err != nil {
		return GroupedMessage{}, fmt.Errorf("regrouped message: decompress the event: %w", err)
	}
	return g, nil
}

// DecodeIssue reads an issues.<project>.<change> message.
func DecodeIssue(body []byte) (IssueMessage, error) {
	var m IssueMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return m, fmt.Errorf("issue message: %w", err)
	}
	return m, nil
}
