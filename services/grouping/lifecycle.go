package grouping

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/streams"
)

// substatusNew is an unresolved issue's substatus from its creation until
// its status first changes.
const substatusNew = "new"

// issueState is the part of an issue row the lifecycle reads and writes.
type issueState struct {
	status            string
	substatus         string
	statusChangedAt   time.Time
	resolvedInRelease string
	ignoreUntil       *time.Time
	ignoreUntilCount  *int64
	ignoreUntilUsers  *int64
	ignoreUntilWindow *int64      // minutes: ignoreUntilCount counts the events of this trailing window
	windowSeen        []time.Time // received times of the latest events inside the window, at most ignoreUntilCount
	ignoreBaseCount   int64
	ignoreBaseUsers   int64
}

// transition decides what the batch's events do to an issue: timesSeen is
// the issue's count with the batch included, usersBefore its users sketch
// without the batch. It returns the change ("" for none) and the event that
// caused it: the earliest qualifying one by (received, event id), and for
// an ignore until N events or users, the event that made the Nth. Both are
// the same however the stream is cut into batches, so a replay agrees with
// what happened live.
func (st *issueState) transition(events []*prepared, timesSeen int64, usersBefore []byte) (string, *prepared) {
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
		if st.ignoreUntil != nil {
			for _, p := range events {
				if !p.received.Before(*st.ignoreUntil) {
					consider(p)
				}
			}
		}
		if st.ignoreUntilCount != nil || st.ignoreUntilUsers != nil {
			if p := st.nthAfterIgnore(events, timesSeen, usersBefore); p != nil {
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
	st.ignoreUntilWindow, st.windowSeen = nil, nil
	st.ignoreBaseCount, st.ignoreBaseUsers = 0, 0
	return change, trigger
}

// nthAfterIgnore is the batch's event that brought the issue to its
// ignore's count of events (within its window, when it has one) or of
// users, taking the events in (received, event id) order; nil when the
// batch does not get there. It keeps windowSeen up to date.
func (st *issueState) nthAfterIgnore(events []*prepared, timesSeen int64, usersBefore []byte) *prepared {
	ordered := slices.Clone(events)
	slices.SortFunc(ordered, func(a, b *prepared) int {
		if c := a.received.Compare(b.received); c != 0 {
			return c
		}
		return bytes.Compare(a.eventID[:], b.eventID[:])
	})
	seen := timesSeen - int64(len(events))
	var users hll
	if st.ignoreUntilUsers != nil {
		users = hllFrom(usersBefore)
	}
	for _, p := range ordered {
		seen++
		if st.ignoreUntilCount != nil {
			if st.ignoreUntilWindow != nil {
				if st.inWindow(p.received) >= *st.ignoreUntilCount {
					return p
				}
			} else if seen-st.ignoreBaseCount >= *st.ignoreUntilCount {
				return p
			}
		}
		if users != nil && p.userKey != "" {
			users.add(p.userKey)
			if users.estimate()-st.ignoreBaseUsers >= *st.ignoreUntilUsers {
				return p
			}
		}
	}
	return nil
}

// inWindow records an event received at t and returns how many of the
// ignored issue's events fall in the window ending at t. Only the latest
// ignoreUntilCount are kept: no more are needed to reach it.
func (st *issueState) inWindow(t time.Time) int64 {
	from := t.Add(-time.Duration(*st.ignoreUntilWindow) * time.Minute)
	kept := st.windowSeen[:0]
	for _, s := range st.windowSeen {
		if s.After(from) {
			kept = append(kept, s)
		}
	}
	kept = append(kept, t)
	if n := int(*st.ignoreUntilCount); len(kept) > n {
		kept = kept[len(kept)-n:]
	}
	st.windowSeen = kept
	return int64(len(kept))
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
