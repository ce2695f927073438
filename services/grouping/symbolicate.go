package grouping

import (
	"context"
	"log/slog"

	"github.com/faultline/faultline/libs/event"
)

// symbolicate maps e's minified JavaScript frames to their sources with the
// uploaded source maps (keeping the frames as sent as raw_stacktrace), so
// that the event groups by its original code. When the index cannot be
// read, the event is grouped as it came.
func (s *Service) symbolicate(ctx context.Context, e *event.Event) {
	if n, err := s.maps.Symbolicate(ctx, e); err != nil {
		s.log.Warn("symbolication failed; grouping the frames as sent", slog.String("event_id", e.EventID),
			slog.Int("frames_mapped", n), slog.Any("error", err))
	}
}
