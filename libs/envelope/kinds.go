package envelope

// Kinds name what an envelope mainly carries; the gateway publishes each
// envelope on ingest.<project>.<kind>, so a consumer subscribes to the kinds
// it handles. An envelope's kind is that of its first item type in this order:
//
//	event → error, transaction → transaction, raw_security → security,
//	feedback / user_report → feedback, check_in → check_in, span / otel_span → span,
//	log / otel_log → log, trace_metric → metric, replay_* → replay, profile / profile_chunk → profile,
//	session / sessions → session, attachment → attachment,
//	client_report → client_report, anything else → other.
//
// Attachments sent with an event travel in the event's envelope and so under
// "error"; an envelope of attachments alone (sent after its event) is
// "attachment".
const (
	KindError        = "error"
	KindTransaction  = "transaction"
	KindSecurity     = "security"
	KindFeedback     = "feedback"
	KindCheckIn      = "check_in"
	KindSpan         = "span"
	KindLog          = "log"
	KindMetric       = "metric"
	KindReplay       = "replay"
	KindProfile      = "profile"
	KindSession      = "session"
	KindAttachment   = "attachment"
	KindClientReport = "client_report"
	KindOther        = "other"
)

var kindOrder = []struct {
	kind  string
	types []string
}{
	{KindError, []string{"event"}},
	{KindTransaction, []string{"transaction"}},
	{KindSecurity, []string{"raw_security"}},
	{KindFeedback, []string{"feedback", "user_report"}},
	{KindCheckIn, []string{"check_in"}},
	{KindSpan, []string{"span", "otel_span"}},
	{KindLog, []string{"log", "otel_log"}},
	{KindMetric, []string{"trace_metric"}},
	{KindReplay, []string{"replay_event", "replay_recording", "replay_video"}},
	{KindProfile, []string{"profile", "profile_chunk"}},
	{KindSession, []string{"session", "sessions"}},
	{KindAttachment, []string{"attachment"}},
	{KindClientReport, []string{"client_report"}},
}

// Kind is the envelope's kind.
func (e *Envelope) Kind() string {
	for _, k := range kindOrder {
		for _, t := range k.types {
			for i := range e.Items {
				if e.Items[i].Type == t {
					return k.kind
				}
			}
		}
	}
	return KindOther
}

// Data categories, as Sentry names them in X-Sentry-Rate-Limits and client
// reports.
const (
	CategoryError        = "error"
	CategoryTransaction  = "transaction"
	CategorySecurity     = "security"
	CategoryAttachment   = "attachment"
	CategorySession      = "session"
	CategorySpan         = "span"
	CategoryLogItem      = "log_item"
	CategoryTraceMetric  = "trace_metric"
	CategoryMonitor      = "monitor"
	CategoryFeedback     = "feedback"
	CategoryProfile      = "profile"
	CategoryProfileChunk = "profile_chunk"
	CategoryReplay       = "replay"
	CategoryUserReport   = "user_report_v2"
)

// Category is the data category an item counts against, and how many it
// counts; "" for items no quota applies to (client reports, unknown types).
// Attachments count under their own category but ride with their event: a
// rate-limited event takes its attachments with it.
func (it *Item) Category() (string, int) {
	switch it.Type {
	case "event":
		return CategoryError, 1
	case "transaction":
		return CategoryTransaction, 1
	case "raw_security":
		return CategorySecurity, 1
	case "attachment":
		return CategoryAttachment, 1
	case "session", "sessions":
		return CategorySession, 1
	case "span", "otel_span":
		return CategorySpan, max(it.ItemCount, 1)
	case "log", "otel_log":
		return CategoryLogItem, max(it.ItemCount, 1)
	case "trace_metric":
		return CategoryTraceMetric, max(it.ItemCount, 1)
	case "check_in":
		return CategoryMonitor, 1
	case "feedback":
		return CategoryFeedback, 1
	case "user_report":
		return CategoryUserReport, 1
	case "profile":
		return CategoryProfile, 1
	case "profile_chunk":
		return CategoryProfileChunk, 1
	case "replay_event", "replay_recording", "replay_video":
		return CategoryReplay, 1
	}
	return "", 0
}
