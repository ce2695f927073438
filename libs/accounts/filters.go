package accounts

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/faultline/faultline/libs/inboundfilter"
)

// A project's inbound filters: the switches in api.projects.filters, the
// lists in its options (filters:blacklisted_ips, filters:releases,
// filters:error_messages, one entry per line, as Sentry's settings form
// writes them). Both reach the gateway with the keys' records.

// Option keys of the filter lists.
const (
	OptionBlacklistedIPs = "filters:blacklisted_ips"
	OptionReleases       = "filters:releases"
	OptionErrorMessages  = "filters:error_messages"
)

// filterSettings composes the stored switches and options.
func filterSettings(filters, options []byte) (inboundfilter.Settings, error) {
	var s inboundfilter.Settings
	if len(filters) > 0 {
		if err := json.Unmarshal(filters, &s); err != nil {
			return s, fmt.Errorf("read filters: %w", err)
		}
	}
	var opts map[string]any
	if len(options) > 0 {
		if err := json.Unmarshal(options, &opts); err != nil {
			return s, fmt.Errorf("read options: %w", err)
		}
	}
	s.BlacklistedIPs, s.Releases, s.ErrorMessages = lines(opts[OptionBlacklistedIPs]), lines(opts[OptionReleases]), lines(opts[OptionErrorMessages])
	return s, nil
}

// OptionSpikeProtectionDisabled is the project option that turns spike
// protection off (Sentry's name; false or missing means on).
const OptionSpikeProtectionDisabled = "quotas:spike-protection-disabled"

// spikeProtectionDisabled reads the option from the stored options.
func spikeProtectionDisabled(options []byte) (bool, error) {
	if len(options) == 0 {
		return false, nil
	}
	var opts map[string]any
	if err := json.Unmarshal(options, &opts); err != nil {
		return false, fmt.Errorf("read options: %w", err)
	}
	off, _ := opts[OptionSpikeProtectionDisabled].(bool)
	return off, nil
}

// lines splits an option's text into its non-blank lines (a list of
// strings is taken as it is).
func lines(v any) []string {
	var out []string
	switch v := v.(type) {
	case string:
		for _, l := range strings.Split(v, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok && strings.TrimSpace(s) != "" {
				out = append(out, strings.TrimSpace(s))
			}
		}
	}
	return out
}

// checkFilterOptions refuses filter lists the gateway could not use.
func checkFilterOptions(opts map[string]any) error {
	s, err := filterSettings(nil, mustJSON(opts))
	if err != nil {
		return err
	}
	if _, err := inboundfilter.Compile(s); err != nil {
		return fmt.Errorf("%w: options: %v", ErrInvalid, err)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// ProjectFilters returns a project's inbound filters.
func (s *Store) ProjectFilters(ctx context.Context, projectID int64) (inboundfilter.Settings, error) {
	var filters, options []byte
	if err := s.pool.QueryRow(ctx, `SELECT filters, settings->'options' FROM api.projects WHERE id = $1`, projectID).
		Scan(&filters, &options); err != nil {
		return inboundfilter.Settings{}, notFound(err)
	}
	return filterSettings(filters, options)
}

// SetProjectFilter switches one of a project's filters on or off; for
// legacy-browser, subfilters name the browsers (none: off).
func (s *Store) SetProjectFilter(ctx context.Context, projectID int64, id string, active bool, subfilters []string) error {
	cur, err := s.ProjectFilters(ctx, projectID)
	if err != nil {
		return err
	}
	switch id {
	case inboundfilter.BrowserExtensions:
		cur.BrowserExtensions = active
	case inboundfilter.Localhost:
		cur.Localhost = active
	case inboundfilter.WebCrawlers:
		cur.WebCrawlers = active
	case inboundfilter.FilteredTransaction:
		cur.FilteredTransaction = active
	case inboundfilter.LegacyBrowsers:
		cur.LegacyBrowsers = slices.Compact(slices.Sorted(slices.Values(subfilters)))
	default:
		return fmt.Errorf("%w: no filter %q (want one of %s)", ErrNotFound, clipName(id), strings.Join(inboundfilter.Filters, ", "))
	}
	if _, err := inboundfilter.Compile(cur); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	// Only the switches are stored here; the lists stay in the options.
	cur.BlacklistedIPs, cur.Releases, cur.ErrorMessages = nil, nil, nil
	if _, err := s.pool.Exec(ctx, `UPDATE api.projects SET filters = $2 WHERE id = $1`, projectID, mustJSON(cur)); err != nil {
		return fmt.Errorf("set filter: %w", err)
	}
	return nil
}
