// Package spike owns spike protection: the per-project per-minute counts of
// error events that gateway replicas share, the baseline and cap computed
// from them, and the record that carries them in the limits bucket.
//
// Each gateway counts locally with atomics and writes, about once a second,
// one record per project it counted: its own per-minute counts of the
// window (KV key spike.p<project>.<instance>). Every gateway watches all
// records, so all of them sum the same counts and agree on the cap. A
// project is capped only once its history covers the whole window: a
// fresh project (a load test, a soak) has no baseline and is never capped.
package spike

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/libs/config"
)

// Config is how spikes are capped.
type Config struct {
	// Enabled is the global switch (SPIKE_PROTECTION); off, nothing is
	// counted or capped.
	Enabled bool
	// Window is the number of minutes of history a project needs before
	// it can be capped, and the span its baseline is the mean of
	// (SPIKE_PROTECTION_WINDOW).
	Window int
	// Multiplier times the baseline is the cap (SPIKE_PROTECTION_MULTIPLIER).
	Multiplier float64
	// Floor is the lowest cap, in events per minute (SPIKE_PROTECTION_FLOOR).
	Floor int64
	// Minute is the length of a counted minute: time.Minute, shorter only
	// in tests.
	Minute time.Duration
}

// Defaults are the settings of a process without SPIKE_PROTECTION_*.
var Defaults = Config{Enabled: true, Window: 60, Multiplier: 10, Floor: 1000, Minute: time.Minute}

// MinuteOf is the index of the counted minute t falls in.
func (c Config) MinuteOf(t time.Time) int64 { return t.UnixNano() / int64(c.minute()) }

func (c Config) minute() time.Duration {
	if c.Minute <= 0 {
		return time.Minute
	}
	return c.Minute
}

// Count is one minute's error events of a project.
type Count struct {
	Minute   int64 `json:"m"`
	Admitted int64 `json:"n"`
	Dropped  int64 `json:"d,omitempty"`
}

// Record is what one gateway counted for one project: the minutes of the
// window and the current one.
type Record struct {
	// First is the earliest minute the project is known to have been
	// counted in, by this gateway or, before it, by others.
	First  int64   `json:"first"`
	Counts []Count `json:"counts"`
}

// keyPrefix starts every record's key in the limits bucket; the rate
// limiter's counters never do.
const keyPrefix = "spike."

// RecordKey is the KV key of instance's record of project.
func RecordKey(project int64, instance string) string {
	return keyPrefix + "p" + strconv.FormatInt(project, 10) + "." + instance
}

// ProjectKeys is the KV filter of every record of project.
func ProjectKeys(project int64) string {
	return keyPrefix + "p" + strconv.FormatInt(project, 10) + ".*"
}

// AllKeys is the KV filter of every record.
const AllKeys = keyPrefix + ">"

// ParseKey reads a record key back into its project and instance.
func ParseKey(key string) (project int64, instance string, err error) {
	rest, ok := strings.CutPrefix(key, keyPrefix+"p")
	if !ok {
		return 0, "", fmt.Errorf("spike record key %q: want spike.p<project>.<instance>", key)
	}
	id, instance, ok := strings.Cut(rest, ".")
	project, perr := strconv.ParseInt(id, 10, 64)
	if !ok || perr != nil || project <= 0 || strconv.FormatInt(project, 10) != id || instance == "" || strings.Contains(instance, ".") {
		return 0, "", fmt.Errorf("spike record key %q: want spike.p<project>.<instance>", key)
	}
	return project, instance, nil
}

// maxCounts bounds a record read from the bucket.
const maxCounts = 10_000

// ParseRecord reads a record; a record with negative counts or too many
// minutes is refused.
func ParseRecord(b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("spike record: %w", err)
	}
	if len(r.Counts) > maxCounts {
		return Record{}, errors.New("spike record: too many minutes")
	}
	for _, c := range r.Counts {
		if c.Admitted < 0 || c.Dropped < 0 {
			return Record{}, errors.New("spike record: negative count")
		}
	}
	return r, nil
}

// Status is a project's spike protection at one minute, from every
// gateway's record.
type Status struct {
	// Since is the first minute the project was counted in; 0 when never.
	Since int64
	// HasBaseline says the project's history covers the window: only then
	// is it capped.
	HasBaseline bool
	// Baseline is the mean of admitted error events per minute over the
	// window's complete minutes.
	Baseline float64
	// Cap is the most error events admitted in a minute; 0 when none.
	Cap int64
	// Current is the error events admitted in the current minute.
	Current int64
	// Dropped is the error events dropped over the window and the current
	// minute.
	Dropped int64
}

// Compute sums the records of one project at minute now.
func (c Config) Compute(records []Record, now int64) Status {
	var s Status
	window := int64(max(c.Window, 1))
	var total int64
	for _, r := range records {
		if r.First > 0 && (s.Since == 0 || r.First < s.Since) {
			s.Since = r.First
		}
		for _, n := range r.Counts {
			switch {
			case n.Minute == now:
				s.Current += n.Admitted
				s.Dropped += n.Dropped
			case n.Minute < now && n.Minute >= now-window:
				total += n.Admitted
				s.Dropped += n.Dropped
			}
		}
	}
	s.Baseline = float64(total) / float64(window)
	s.HasBaseline = s.Since > 0 && s.Since <= now-window
	if s.HasBaseline {
		s.Cap = c.capOf(total, window)
	}
	return s
}

// capOf is max(floor, multiplier × total / window), at least 1.
func (c Config) capOf(total, window int64) int64 {
	v := math.Ceil(c.Multiplier * float64(total) / float64(window))
	if v > math.MaxInt64/2 {
		return math.MaxInt64 / 2
	}
	return max(c.Floor, int64(v), 1)
}

// FromConfig is the process configuration's spike protection.
func FromConfig(c config.SpikeConfig) Config {
	return Config{Enabled: c.Enabled, Window: int(c.Window / time.Minute), Multiplier: c.Multiplier, Floor: c.Floor, Minute: time.Minute}
}
