package analytics

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// txSamples are transaction payloads of the shapes SDKs send and of the
// ones the walk gives up on.
var txSamples = []string{
	`{"event_id":"0123456789abcdef0123456789abcdef","type":"transaction","transaction":"GET /x","start_timestamp":1795308929.5,"timestamp":"2026-11-21T10:15:30.25Z","release":"r1","environment":"prod","platform":"go","user":{"id":"u1","email":"a@b"},"tags":{"b":"2","a":"1"},"contexts":{"os":{"name":"linux"},"trace":{"trace_id":"156e9860d974b5e9d216eefba46bb19e","span_id":"1fb830f062f609a1","op":"http.server","status":"ok"}},"spans":[{"span_id":"a1","parent_span_id":"b2","op":"db","description":"SELECT 1","start_timestamp":1795308929.5,"timestamp":1795308929.6,"data":{"x":[1,2]}}],"measurements":{"lcp":{"value":1}}}`,
	`{"EVENT_ID":"x","Transaction":12,"user":null,"spans":null,"contexts":null,"tags":[["a","b"],["c"]]}`,
	`{"event_id":"x","spans":[],"contexts":{"trace":null},"user":{}}`,
	`{"event_id":"x","event_id":"y"}`,
	`{"event_id":"x","user":{"id":"a","ID":"b"}}`,
	`{"event_id":"x\u0041","transaction":"caf\u00e9 \"q\"","release":"\xff"}`,
	`{"ev\u0065nt_id":"x"}`,
	`{"event_id":{"a":1}}`,
	`{"event_id":"x","user":"u"}`,
	`{"event_id":"x","spans":[null]}`,
	`{"event_id":"x","spans":{}}`,
	`{"event_id":"x","timestamp":-5}`,
	`{"event_id":"x"} {}`,
	`{"event_id":"x"`,
	`null`,
	`[]`,
	` {"event_id" : "x" , "tags" : null } `,
}

// TestWalkTransactionMatchesUnmarshal: on the samples, the walk reads what
// json.Unmarshal reads, and fails where it fails.
func TestWalkTransactionMatchesUnmarshal(t *testing.T) {
	for _, s := range txSamples {
		sameAsUnmarshal(t, []byte(s))
	}
	var tx transactionPayload
	w := txWalkers.Get().(*txWalker)
	if !w.transaction([]byte(txSamples[0]), &tx) || len(tx.Spans) != 1 || tx.User == nil || tx.User.ID != "u1" {
		t.Fatalf("the walk gave up on an SDK's shape, or read %+v", tx)
	}
}

func sameAsUnmarshal(t *testing.T, payload []byte) {
	t.Helper()
	var want, got transactionPayload
	werr := json.Unmarshal(payload, &want)
	gerr := decodeTransaction(payload, &got)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: json.Unmarshal says %v, decodeTransaction %v", payload, werr, gerr)
	}
	if werr == nil && !reflect.DeepEqual(want, got) {
		t.Fatalf("%q:\njson.Unmarshal    %+v\ndecodeTransaction %+v", payload, want, got)
	}
}

// FuzzWalkTransaction holds the walk to json.Unmarshal on any input.
func FuzzWalkTransaction(f *testing.F) {
	for _, s := range txSamples {
		f.Add([]byte(s))
	}
	_, env := benchTransaction(7, time.Unix(1795308929, 0))
	f.Add(bytes.Split(env, []byte("\n"))[2]) // its payload

	f.Fuzz(sameAsUnmarshal)
}
