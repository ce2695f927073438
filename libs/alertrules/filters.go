package alertrules

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Levels are Sentry's numeric levels, as LevelFilter's "level" names them.
var Levels = map[string]int{"fatal": 50, "error": 40, "warning": 30, "info": 20, "debug": 10, "sample": 0}

type filterKind uint8

const (
	fLevel filterKind = iota
	fTagged
	fAttribute
	fAge
	fOccurrences
	fLatestRelease
	fAssigned
)

type filter struct {
	kind   filterKind
	match  string // eq, ne, sw, ew, co, nc, is, ns; gte, lte for levels
	key    string // tag key or attribute
	value  string
	level  int
	older  bool
	age    time.Duration
	count  int64
	target string // assigned: "" for unassigned, "user:<id>" or "team:<id>"
}

var stringMatches = []string{"eq", "ne", "sw", "ew", "co", "nc", "is", "ns"}

// attributes EventAttributeFilter reads.
var attributes = []string{"message", "platform", "environment", "type", "exception.type", "exception.value",
	"error.handled", "error.unhandled", "release", "level", "culprit", "user.id", "user.email", "user.username", "user.ip_address"}

var ageUnits = map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour, "week": 7 * 24 * time.Hour}

func compileFilter(n Node) (filter, error) {
	var f filter
	var err error
	switch n.ID() {
	case FilterLevel:
		f.kind = fLevel
		if f.match, err = choice(n, "match", "", "eq", "gte", "lte"); err != nil {
			return f, err
		}
		lv, ok := str(n, "level")
		if l, known := Levels[lv]; known {
			f.level = l
			return f, nil
		}
		l, perr := strconv.Atoi(lv)
		if !ok || perr != nil || l < 0 || l > 50 || l%10 != 0 {
			return f, fmt.Errorf("level: one of 0, 10, 20, 30, 40, 50 is required")
		}
		f.level = l
	case FilterTagged, FilterAttribute:
		f.kind = fTagged
		keyField := "key"
		if n.ID() == FilterAttribute {
			f.kind, keyField = fAttribute, "attribute"
		}
		if f.key, err = text(n, keyField, true); err != nil {
			return f, err
		}
		if f.kind == fAttribute {
			if f.key, err = choice(n, "attribute", "", attributes...); err != nil {
				return f, err
			}
		}
		if f.match, err = choice(n, "match", "", stringMatches...); err != nil {
			return f, err
		}
		if f.value, err = text(n, "value", f.match != "is" && f.match != "ns"); err != nil {
			return f, err
		}
		f.value = strings.ToLower(f.value)
	case FilterAge:
		f.kind = fAge
		ct, err := choice(n, "comparison_type", "", "older", "newer")
		if err != nil {
			return f, err
		}
		f.older = ct == "older"
		v, err := num(n, "value")
		if err != nil {
			return f, err
		}
		unit, err := choice(n, "time", "", "minute", "hour", "day", "week")
		if err != nil {
			return f, err
		}
		f.age = time.Duration(v) * ageUnits[unit]
	case FilterOccurrences:
		f.kind = fOccurrences
		v, err := num(n, "value")
		if err != nil {
			return f, err
		}
		f.count = int64(v)
	case FilterLatestRelease:
		f.kind = fLatestRelease
	case FilterAssignedTo:
		f.kind = fAssigned
		tt, err := choice(n, "targetType", "", "Unassigned", "Team", "Member")
		if err != nil {
			return f, err
		}
		if tt != "Unassigned" {
			id, _ := str(n, "targetIdentifier")
			if v, err := strconv.ParseInt(id, 10, 64); err != nil || v <= 0 {
				return f, fmt.Errorf("targetIdentifier: the id of a %s is required", strings.ToLower(tt))
			}
			f.target = map[string]string{"Team": "team:", "Member": "user:"}[tt] + id
		}
	case "":
		return f, fmt.Errorf("id: this field is required")
	default:
		return f, fmt.Errorf("unknown filter")
	}
	return f, nil
}

func (f *filter) passes(in *Input) bool {
	e := in.Event
	switch f.kind {
	case fLevel:
		l := Levels[e.Level]
		switch f.match {
		case "eq":
			return l == f.level
		case "gte":
			return l >= f.level
		default:
			return l <= f.level
		}
	case fTagged:
		var vals []string
		for _, t := range e.Tags {
			if strings.EqualFold(t[0], f.key) {
				vals = append(vals, t[1])
			}
		}
		return matchAny(f.match, vals, f.value)
	case fAttribute:
		return matchAny(f.match, e.attribute(f.key), f.value)
	case fAge:
		if in.Issue.FirstSeen.IsZero() {
			return false
		}
		age := in.Now.Sub(in.Issue.FirstSeen)
		if f.older {
			return age > f.age
		}
		return age < f.age
	case fOccurrences:
		return in.Issue.TimesSeen >= f.count
	case fLatestRelease:
		return e.Release != "" && e.Release == in.LatestRelease
	case fAssigned:
		return in.Issue.Assignee == f.target
	}
	return false
}

// matchAny applies a string match to an attribute's values (an attribute
// may have several, like the types of a chained exception). Comparisons
// ignore case, as Sentry's do.
func matchAny(match string, vals []string, want string) bool {
	switch match {
	case "is":
		return len(vals) > 0
	case "ns":
		return len(vals) == 0
	case "ne", "nc":
		for _, v := range vals {
			if !matchOne(match, v, want) {
				return false
			}
		}
		return true
	}
	for _, v := range vals {
		if matchOne(match, v, want) {
			return true
		}
	}
	return false
}

func matchOne(match, v, want string) bool {
	v = strings.ToLower(v)
	switch match {
	case "eq":
		return v == want
	case "ne":
		return v != want
	case "sw":
		return strings.HasPrefix(v, want)
	case "ew":
		return strings.HasSuffix(v, want)
	case "co":
		return strings.Contains(v, want)
	case "nc":
		return !strings.Contains(v, want)
	}
	return false
}
