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
