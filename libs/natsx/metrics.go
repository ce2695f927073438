package natsx

import "github.com/prometheus/client_golang/prometheus"

// RejectedMessages counts the messages a consumer terminated because they
// cannot be handled (they do not decode, or handling them panicked), by
// consumer and kind of reason, so operators see them without reading logs.
// Grouping keeps its own count and lists each one in grouping.rejected.
var RejectedMessages = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "faultline_messages_rejected_total",
	Help: "Stream messages a consumer terminated as unusable, by consumer and reason (invalid, panic).",
}, []string{"consumer", "reason"})

// Reject terminates m as unusable with reason (logged by the caller) and
// counts it: kind is "panic" for a recovered panic, "invalid" otherwise.
func Reject(m interface{ TermWithReason(string) error }, consumer, kind, reason string) {
	if len(reason) > 200 {
		reason = reason[:200]
	}
	m.TermWithReason(reason)
	RejectedMessages.WithLabelValues(consumer, kind).Inc()
}
