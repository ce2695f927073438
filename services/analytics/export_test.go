package analytics

import "github.com/nats-io/nats.go/jetstream"

// SetTestHookDecode makes every decode call f first; nil removes it.
func SetTestHookDecode(f func(jetstream.Msg)) {
	if f == nil {
		testHookDecode.Store(nil)
		return
	}
	testHookDecode.Store(&f)
}

// SetTestHookInsert makes every batch insert call f first, failing when it
// returns an error; nil removes it.
func SetTestHookInsert(f func() error) {
	if f == nil {
		testHookInsert.Store(nil)
		return
	}
	testHookInsert.Store(&f)
}
