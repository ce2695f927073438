package accounts

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/faultline/faultline/libs/scrub"
)

// A project's data-scrubbing settings are stored in api.projects.scrub as
// scrub.Settings' JSON (NULL: Sentry's defaults, scrub.Defaults), reach the
// gateway with its keys' records (keysync.go), and are changed through the
// project API under Sentry's field names.

// Limits of the field lists, generous for hand-written lists.
const (
	maxScrubFields   = 200
	maxScrubFieldLen = 255
)

// ScrubUpdate holds the scrubbing settings to change; nil leaves one as it
// is.
type ScrubUpdate struct {
	DataScrubber, DataScrubberDefaults, ScrubIPAddresses *bool
	SensitiveFields, SafeFields                          *[]string
}

// patch is the JSON object of the settings to change, nil when none is.
// Field names are trimmed and blank ones dropped, as Sentry's settings form
// does with its one-per-line lists.
func (u ScrubUpdate) patch() ([]byte, error) {
	p := map[string]any{}
	for name, v := range map[string]*bool{"dataScrubber": u.DataScrubber,
		"dataScrubberDefaults": u.DataScrubberDefaults, "scrubIPAddresses": u.ScrubIPAddresses} {
		if v != nil {
			p[name] = *v
		}
	}
	for name, v := range map[string]*[]string{"sensitiveFields": u.SensitiveFields, "safeFields": u.SafeFields} {
		if v == nil {
			continue
		}
		if len(*v) > maxScrubFields {
			return nil, fmt.Errorf("%w: %s: at most %d fields", ErrInvalid, name, maxScrubFields)
		}
		fields := []string{}
		for _, f := range *v {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if len(f) > maxScrubFieldLen || strings.ContainsAny(f, "\r\n") {
				return nil, fmt.Errorf("%w: %s: field %q", ErrInvalid, name, clipName(f))
			}
			fields = append(fields, f)
		}
		p[name] = fields
	}
	if len(p) == 0 {
		return nil, nil
	}
	return json.Marshal(p)
}

func clipName(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// defaultScrubJSON is what a project's settings start from when first
// changed.
var defaultScrubJSON = func() []byte {
	b, err := json.Marshal(scrub.Defaults)
	if err != nil {
		panic(err)
	}
	return b
}()

// scrubSettings reads a stored api.projects.scrub: NULL is Sentry's
// defaults.
func scrubSettings(b []byte) (scrub.Settings, error) {
	if b == nil {
		return scrub.Defaults, nil
	}
	var s scrub.Settings
	if err := json.Unmarshal(b, &s); err != nil {
		return scrub.Settings{}, fmt.Errorf("read scrubbing settings: %w", err)
	}
	return s, nil
}
