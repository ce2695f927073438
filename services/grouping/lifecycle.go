package grouping

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/streams"
)

// issueState is the part of an issue row the lifecycle reads and writes.
type issueState struct {
	status            string
	substatus         string
	statusChangedAt   time.Time
	resolvedInRelease string
	ignoreUntil       *time.Time
	ignoreUntilCount  *int64
	ignoreUntilUsers  *int64
	ignoreBaseCount   int64
	ignoreBaseUsers   int64
}

// transition decides what the batch's events do to an issue: timesSeen and
// users are the issue's counters with the batch included. It returns the
// change ("" for none) and the event that caused it; the event is the
// earliest qualifying one by (received, event id), so replicas agree.
func (st *issueState) transition(events []*prepared, timesSeen, users int64) (string, *prepared) {
	var change string
	var trigger *prepared
	consider := func(p *prepared) {
		if trigger == nil || p.received.Before(trigger.received) ||
			p.received.Equal(trigger.received) && bytes.Compare(p.eventID[:], trigger.eventID[:]) < 0 {
			trigger = p
		}
	}
	switch st.status {
	case streams.StatusResolved:
		for _, p := range events {
			if p.received.After(st.statusChangedAt) {
				consider(p)
			}
		}
		change = streams.ChangeRegressed
	case streams.StatusResolvedInNextRelease:
		for _, p := range events {
			if p.received.After(st.statusChangedAt) && releaseNewer(p.release, st.resolvedInRelease) {
				consider(p)
			}
		}
		change = streams.ChangeRegressed
	case streams.StatusResolvedInRelease:
		// Fixed in that release: events of it or of a newer one regress.
		for _, p := range events {
			if p.received.After(st.statusChangedAt) && p.release != "" &&
				(p.release == st.resolvedInRelease || releaseNewer(p.release, st.resolvedInRelease)) {
				consider(p)
			}
		}
		change = streams.ChangeRegressed
	case streams.StatusIgnored:
		met := st.ignoreUntilCount != nil && timesSeen-st.ignoreBaseCount >= *st.ignoreUntilCount ||
			st.ignoreUntilUsers != nil && users-st.ignoreBaseUsers >= *st.ignoreUntilUsers
		for _, p := range events {
			if met || st.ignoreUntil != nil && !p.received.Before(*st.ignoreUntil) {
				consider(p)
			}
		}
		change = streams.ChangeUnignored
	}
	if trigger == nil {
		return "", nil
	}
	st.status = streams.StatusUnresolved
	st.substatus = change
	st.statusChangedAt = trigger.received
	st.resolvedInRelease = ""
	st.ignoreUntil, st.ignoreUntilCount, st.ignoreUntilUsers = nil, nil, nil
	st.ignoreBaseCount, st.ignoreBaseUsers = 0, 0
	return change, trigger
}

// releaseNewer reports whether release a is newer than b: by version when
// both read as versions ("pkg@1.2.3", "v1.2", "2024.01.15"), otherwise
// whenever they differ. An event without a release is never newer.
func releaseNewer(a, b string) bool {
	if a == "" || a == b {
		return false
	}
	va, oka := parseVersion(a)
	vb, okb := parseVersion(b)
	if !oka || !okb {
		return true
	}
	for i := range max(len(va), len(vb)) {
		var x, y int64
		if i < len(va) {
			x = va[i]
		}
		if i < len(vb) {
			y = vb[i]
		}
		if x != y {
			return x > y
		}
	}
	return false
}

func parseVersion(r string) ([]int64, bool) {
	if i := strings.LastIndexByte(r, '@'); i >= 0 {
		r = r[i+1:]
	}
	r = strings.TrimPrefix(strings.TrimPrefix(r, "v"), "V")
	if i := strings.IndexAny(r, "-+ "); i >= 0 {
		r = r[:i] // pre-release and build parts are not ordered here
	}
	var out []int64
	for _, part := range strings.Split(r, ".") {
		n, err := strconv.ParseInt(part, 10, 64)
		if err != nil || n < 0 {
			return nil, false
		}
		out = append(out, n)
	}
	return out, len(out) > 0
}
