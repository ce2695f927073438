package analytics

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// The transaction payload is most of the role's CPU per message, and
// json.Unmarshal into transactionPayload (reflection over every member,
// a scan to check the payload, another to decode it) was most of that.
// walkTransaction reads the same struct in one validating pass of
// jsontext's tokenizer, only the members the rows need, with the same
// UnmarshalJSON methods on each value; for anything but the shapes SDKs
// send (a repeated member, a key with escapes or not ASCII, a value of an
// unexpected kind, an error) it gives up and decodeTransaction takes
// json.Unmarshal's answer. FuzzWalkTransaction holds the two to the same
// result on the same input.

// decodeTransaction reads a transaction item's payload as json.Unmarshal
// into tx does.
func decodeTransaction(payload []byte, tx *transactionPayload) error {
	w := txWalkers.Get().(*txWalker)
	ok := w.transaction(payload, tx)
	w.r.Reset(nil)
	txWalkers.Put(w)
	if ok {
		return nil
	}
	*tx = transactionPayload{}
	return json.Unmarshal(payload, tx)
}

type txWalker struct {
	r bytes.Reader
	d *jsontext.Decoder
}

var txWalkers = sync.Pool{New: func() any {
	w := &txWalker{}
	w.d = jsontext.NewDecoder(&w.r)
	return w
}}

// The members each object of a transaction is read for, in the order of
// the walk's field numbers.
var (
	txMembers    = []string{"event_id", "timestamp", "start_timestamp", "transaction", "release", "environment", "platform", "user", "tags", "contexts", "spans"}
	userMembers  = []string{"id", "email", "username", "ip_address"}
	ctxMembers   = []string{"trace"}
	traceMembers = []string{"trace_id", "span_id", "parent_span_id", "op", "status"}
	spanMembers  = []string{"trace_id", "span_id", "parent_span_id", "op", "description", "status", "start_timestamp", "timestamp"}
)

// transaction walks payload into tx; false when it gave up.
func (w *txWalker) transaction(payload []byte, tx *transactionPayload) bool {
	w.r.Reset(payload)
	// As encoding/json reads: repeated names are not an error (they make
	// this walk give up), nor is invalid UTF-8 (lstring replaces it).
	w.d.Reset(&w.r, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	ok := w.object(txMembers, func(f int) bool {
		switch f {
		case 7:
			return w.user(&tx.User)
		case 9:
			return w.contexts(tx)
		case 10:
			return w.spans(&tx.Spans)
		}
		return w.scalar([...]json.Unmarshaler{&tx.EventID, &tx.Timestamp, &tx.StartTimestamp, &tx.Transaction,
			&tx.Release, &tx.Environment, &tx.Platform, 8: &tx.Tags}[f])
	})
	if !ok {
		return false
	}
	_, err := w.d.ReadToken()
	return err == io.EOF // nothing after the object
}

// object reads an object, handing each member named in names to member
// with its index and skipping the others; false to give up (not an
// object, a member that gave up, a name to give up on).
func (w *txWalker) object(names []string, member func(i int) bool) bool {
	if !w.open('{') {
		return false
	}
	var seen uint32
	for w.d.PeekKind() != '}' {
		var ok bool
		switch i := w.name(&seen, names...); {
		case i < 0:
			return false
		case i == len(names):
			ok = w.d.SkipValue() == nil
		default:
			ok = member(i)
		}
		if !ok {
			return false
		}
	}
	_, err := w.d.ReadToken() // the closing brace
	return err == nil
}

// open reads the token that opens an object or an array, kind.
func (w *txWalker) open(kind jsontext.Kind) bool {
	if w.d.PeekKind() != kind {
		return false
	}
	_, err := w.d.ReadToken()
	return err == nil
}

// name reads the next member's name and says which of names it is, as
// encoding/json matches a struct's fields (ASCII case folded): its index,
// len(names) for none of them, -1 to give up (a name seen before in this
// object, per seen, or one with escapes or bytes that are not ASCII).
func (w *txWalker) name(seen *uint32, names ...string) int {
	v, err := w.d.ReadValue()
	if err != nil || len(v) < 2 {
		return -1
	}
	in := v[1 : len(v)-1]
	for _, c := range in {
		if c == '\\' || c >= 0x80 {
			return -1
		}
	}
	for i, n := range names {
		if len(n) == len(in) && foldEqual(in, n) {
			if *seen&(1<<i) != 0 {
				return -1
			}
			*seen |= 1 << i
			return i
		}
	}
	return len(names)
}

// foldEqual compares ASCII text with a lower-case name, ignoring case.
func foldEqual(b []byte, name string) bool {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

// scalar reads the next value with u's UnmarshalJSON, as encoding/json
// hands it the value's bytes.
func (w *txWalker) scalar(u json.Unmarshaler) bool {
	v, err := w.d.ReadValue()
	return err == nil && u.UnmarshalJSON(v) == nil
}

// null reads a null if one is next.
func (w *txWalker) null() bool {
	if w.d.PeekKind() != 'n' {
		return false
	}
	_, err := w.d.ReadToken()
	return err == nil
}

func (w *txWalker) user(u **userPayload) bool {
	if w.null() {
		*u = nil
		return true
	}
	p := &userPayload{}
	into := [...]json.Unmarshaler{&p.ID, &p.Email, &p.Username, &p.IPAddress}
	if !w.object(userMembers, func(i int) bool { return w.scalar(into[i]) }) {
		return false
	}
	*u = p
	return true
}

func (w *txWalker) contexts(tx *transactionPayload) bool {
	if w.null() {
		return true // null leaves a struct as it is
	}
	return w.object(ctxMembers, func(int) bool { return w.trace(&tx.Contexts.Trace) })
}

func (w *txWalker) trace(t *traceContext) bool {
	if w.null() {
		return true
	}
	into := [...]json.Unmarshaler{&t.TraceID, &t.SpanID, &t.ParentSpanID, &t.Op, &t.Status}
	return w.object(traceMembers, func(i int) bool { return w.scalar(into[i]) })
}

func (w *txWalker) spans(out *[]spanPayload) bool {
	if w.null() {
		*out = nil
		return true
	}
	if !w.open('[') {
		return false
	}
	spans := []spanPayload{} // encoding/json makes an empty array an empty slice
	for w.d.PeekKind() != ']' {
		var sp spanPayload
		into := [...]json.Unmarshaler{&sp.TraceID, &sp.SpanID, &sp.ParentSpanID, &sp.Op, &sp.Description, &sp.Status,
			&sp.StartTimestamp, &sp.Timestamp}
		if !w.object(spanMembers, func(i int) bool { return w.scalar(into[i]) }) {
			return false
		}
		spans = append(spans, sp)
	}
	if _, err := w.d.ReadToken(); err != nil {
		return false
	}
	*out = spans
	return true
}
