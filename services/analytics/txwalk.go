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

// transaction walks payload into tx; false when it gave up.
func (w *txWalker) transaction(payload []byte, tx *transactionPayload) bool {
	w.r.Reset(payload)
	// As encoding/json reads: repeated names are not an error (they make
	// this walk give up), nor is invalid UTF-8 (lstring replaces it).
	w.d.Reset(&w.r, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if !w.open('{') {
		return false
	}
	var seen uint32
	for w.d.PeekKind() != '}' {
		f := w.name(&seen, "event_id", "timestamp", "start_timestamp", "transaction", "release", "environment", "platform",
			"user", "tags", "contexts", "spans")
		var ok bool
		switch f {
		case -1:
			return false
		case 0:
			ok = w.scalar(&tx.EventID)
		case 1:
			ok = w.scalar(&tx.Timestamp)
		case 2:
			ok = w.scalar(&tx.StartTimestamp)
		case 3:
			ok = w.scalar(&tx.Transaction)
		case 4:
			ok = w.scalar(&tx.Release)
		case 5:
			ok = w.scalar(&tx.Environment)
		case 6:
			ok = w.scalar(&tx.Platform)
		case 7:
			ok = w.user(&tx.User)
		case 8:
			ok = w.scalar(&tx.Tags)
		case 9:
			ok = w.contexts(tx)
		case 10:
			ok = w.spans(&tx.Spans)
		default:
			ok = w.d.SkipValue() == nil
		}
		if !ok {
			return false
		}
	}
	if _, err := w.d.ReadToken(); err != nil { // the closing brace
		return false
	}
	_, err := w.d.ReadToken()
	return err == io.EOF // nothing after the object
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
	if !w.open('{') {
		return false
	}
	p := &userPayload{}
	var seen uint32
	for w.d.PeekKind() != '}' {
		var ok bool
		switch w.name(&seen, "id", "email", "username", "ip_address") {
		case -1:
			return false
		case 0:
			ok = w.scalar(&p.ID)
		case 1:
			ok = w.scalar(&p.Email)
		case 2:
			ok = w.scalar(&p.Username)
		case 3:
			ok = w.scalar(&p.IPAddress)
		default:
			ok = w.d.SkipValue() == nil
		}
		if !ok {
			return false
		}
	}
	_, err := w.d.ReadToken()
	*u = p
	return err == nil
}

func (w *txWalker) contexts(tx *transactionPayload) bool {
	if w.null() {
		return true // null leaves a struct as it is
	}
	if !w.open('{') {
		return false
	}
	var seen uint32
	for w.d.PeekKind() != '}' {
		var ok bool
		switch w.name(&seen, "trace") {
		case -1:
			return false
		case 0:
			ok = w.trace(&tx.Contexts.Trace)
		default:
			ok = w.d.SkipValue() == nil
		}
		if !ok {
			return false
		}
	}
	_, err := w.d.ReadToken()
	return err == nil
}

func (w *txWalker) trace(t *traceContext) bool {
	if w.null() {
		return true
	}
	if !w.open('{') {
		return false
	}
	var seen uint32
	for w.d.PeekKind() != '}' {
		var ok bool
		switch w.name(&seen, "trace_id", "span_id", "parent_span_id", "op", "status") {
		case -1:
			return false
		case 0:
			ok = w.scalar(&t.TraceID)
		case 1:
			ok = w.scalar(&t.SpanID)
		case 2:
			ok = w.scalar(&t.ParentSpanID)
		case 3:
			ok = w.scalar(&t.Op)
		case 4:
			ok = w.scalar(&t.Status)
		default:
			ok = w.d.SkipValue() == nil
		}
		if !ok {
			return false
		}
	}
	_, err := w.d.ReadToken()
	return err == nil
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
		if !w.open('{') {
			return false
		}
		var s spanPayload
		var seen uint32
		for w.d.PeekKind() != '}' {
			var ok bool
			switch w.name(&seen, "trace_id", "span_id", "parent_span_id", "op", "description", "status", "start_timestamp", "timestamp") {
			case -1:
				return false
			case 0:
				ok = w.scalar(&s.TraceID)
			case 1:
				ok = w.scalar(&s.SpanID)
			case 2:
				ok = w.scalar(&s.ParentSpanID)
			case 3:
				ok = w.scalar(&s.Op)
			case 4:
				ok = w.scalar(&s.Description)
			case 5:
				ok = w.scalar(&s.Status)
			case 6:
				ok = w.scalar(&s.StartTimestamp)
			case 7:
				ok = w.scalar(&s.Timestamp)
			default:
				ok = w.d.SkipValue() == nil
			}
			if !ok {
				return false
			}
		}
		if _, err := w.d.ReadToken(); err != nil {
			return false
		}
		spans = append(spans, s)
	}
	if _, err := w.d.ReadToken(); err != nil {
		return false
	}
	*out = spans
	return true
}
