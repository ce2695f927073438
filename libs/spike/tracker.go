package spike

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Tracker counts one gateway's error events per project and caps spikes.
// Admit, on the request path, takes no lock: a sync.Map load, atomic adds
// and a compare. Run shares the counts and computes the caps in the
// background.
type Tracker struct {
	cfg      Config
	kv       jetstream.KeyValue
	instance string
	now      func() time.Time
	log      *slog.Logger

	projects sync.Map // int64 -> *project

	syncMu sync.Mutex // one Sync at a time, so puts go out in order
	// Owned by Run's goroutines.
	mu     sync.Mutex
	others map[int64]map[string]Record // project -> instance -> record, from the watch
	own    map[int64]*ownRecord
	warned time.Time
}

// project is one project's counters, shared with the request path.
type project struct {
	slots  [4]slot    // the current minute and the three before, by minute mod 4
	roll   sync.Mutex // taken only when a slot moves to a new minute
	limit  atomic.Int64
	others atomic.Int64 // other gateways' admitted events of othersAt
	at     atomic.Int64 // the minute others counts
}

type slot struct {
	minute   atomic.Int64
	admitted atomic.Int64
	dropped  atomic.Int64
}

// ownRecord is what this gateway has counted of one project.
type ownRecord struct {
	first   int64
	counts  map[int64]Count
	written string // the record last put, to skip writing it again unchanged
	logged  int64  // the last minute whose drops were logged
}

// NewTracker returns a tracker that shares its counts as instance in kv.
// now is time.Now outside tests.
func NewTracker(cfg Config, kv jetstream.KeyValue, instance string, now func() time.Time, log *slog.Logger) *Tracker {
	if now == nil {
		now = time.Now
	}
	return &Tracker{cfg: cfg, kv: kv, instance: instance, now: now, log: log,
		others: map[int64]map[string]Record{}, own: map[int64]*ownRecord{}}
}

// KV is the bucket the tracker shares its counts in.
func (t *Tracker) KV() jetstream.KeyValue { return t.kv }

// Config is the tracker's configuration.
func (t *Tracker) Config() Config { return t.cfg }

func (t *Tracker) project(id int64) *project {
	if p, ok := t.projects.Load(id); ok {
		return p.(*project)
	}
	p, _ := t.projects.LoadOrStore(id, new(project))
	return p.(*project)
}

func (p *project) slot(m int64) *slot {
	s := &p.slots[m&3]
	if s.minute.Load() != m {
		p.roll.Lock()
		if s.minute.Load() != m {
			s.admitted.Store(0)
			s.dropped.Store(0)
			s.minute.Store(m)
		}
		p.roll.Unlock()
	}
	return s
}

// Admit counts n error events of project and reports whether they fit
// under its cap; when not, retry is how long until the minute ends.
// floor raises the cap (a key's own per-minute limit, so a spike cap never
// undercuts a limit someone chose); disabled counts without capping.
func (t *Tracker) Admit(projectID, n, floor int64, disabled bool) (ok bool, retry time.Duration) {
	now := t.now()
	m := t.cfg.MinuteOf(now)
	p := t.project(projectID)
	s := p.slot(m)
	limit := p.limit.Load()
	if disabled || limit == 0 {
		s.admitted.Add(n)
		return true, 0
	}
	limit = max(limit, floor)
	var others int64
	if p.at.Load() == m {
		others = p.others.Load()
	}
	if v := s.admitted.Add(n); v+others > limit {
		s.admitted.Add(-n)
		s.dropped.Add(n)
		end := time.Unix(0, (m+1)*int64(t.cfg.minute()))
		return false, end.Sub(now)
	}
	return true, 0
}

// Run shares the counts every interval and keeps the caps current until
// ctx ends.
func (t *Tracker) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Second
	}
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); t.watch(ctx) }()
	defer func() { <-watchDone }()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.Sync(ctx)
		}
	}
}

// watch keeps every gateway's records until ctx ends, restarting the watch
// when it breaks.
func (t *Tracker) watch(ctx context.Context) {
	for ctx.Err() == nil {
		w, err := t.kv.Watch(ctx, AllKeys)
		if err == nil {
			t.follow(ctx, w)
			w.Stop()
		} else {
			t.warn("spike records not watched; retrying", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (t *Tracker) follow(ctx context.Context, w jetstream.KeyWatcher) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				continue
			}
			t.apply(e)
		}
	}
}

func (t *Tracker) apply(e jetstream.KeyValueEntry) {
	project, instance, err := ParseKey(e.Key())
	if err != nil || instance == t.instance {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(t.others[project], instance)
		return
	}
	r, err := ParseRecord(e.Value())
	if err != nil {
		t.log.Debug("ignoring malformed spike record", slog.String("key", e.Key()), slog.Any("error", err))
		return
	}
	if t.others[project] == nil {
		t.others[project] = map[string]Record{}
	}
	t.others[project][instance] = r
}

// Sync writes this gateway's counts of every project that changed and
// computes every project's cap from all the records known.
func (t *Tracker) Sync(ctx context.Context) {
	t.syncMu.Lock()
	defer t.syncMu.Unlock()
	m := t.cfg.MinuteOf(t.now())
	window := int64(max(t.cfg.Window, 1))
	type put struct {
		key string
		val []byte
	}
	var puts []put
	t.mu.Lock()
	t.projects.Range(func(k, v any) bool {
		id, p := k.(int64), v.(*project)
		o := t.own[id]
		for i := range p.slots {
			s := &p.slots[i]
			sm := s.minute.Load()
			if sm == 0 || sm < m-3 || sm > m {
				continue
			}
			c := Count{Minute: sm, Admitted: s.admitted.Load(), Dropped: s.dropped.Load()}
			if c.Admitted == 0 && c.Dropped == 0 {
				continue
			}
			if o == nil {
				o = &ownRecord{first: sm, counts: map[int64]Count{}}
				t.own[id] = o
			}
			o.first = min(o.first, sm)
			o.counts[sm] = c
		}
		if o == nil {
			return true
		}
		for mm := range o.counts {
			if mm < m-window {
				delete(o.counts, mm)
			}
		}
		rec := t.ownRecord(id, o)
		b, _ := json.Marshal(rec)
		if string(b) != o.written {
			o.written = string(b)
			puts = append(puts, put{RecordKey(id, t.instance), b})
		}
		return true
	})
	for id, o := range t.own {
		if len(o.counts) == 0 {
			delete(t.own, id)
		}
	}
	// Records of gateways that counted nothing in the window are stale
	// (a stopped gateway's record stays until the bucket's TTL).
	for id, rs := range t.others {
		for inst, r := range rs {
			if len(r.Counts) == 0 || r.Counts[len(r.Counts)-1].Minute < m-window {
				delete(rs, inst)
			}
		}
		if len(rs) == 0 {
			delete(t.others, id)
			continue
		}
		t.project(id) // every project any gateway counted gets its cap
	}
	t.projects.Range(func(k, v any) bool {
		id, p := k.(int64), v.(*project)
		records := make([]Record, 0, len(t.others[id])+1)
		var others int64
		for _, r := range t.others[id] {
			records = append(records, r)
			for _, c := range r.Counts {
				if c.Minute == m {
					others += c.Admitted
				}
			}
		}
		if o := t.own[id]; o != nil {
			records = append(records, t.ownRecord(id, o))
		}
		st := t.cfg.Compute(records, m)
		p.others.Store(others)
		p.at.Store(m)
		p.limit.Store(st.Cap)
		if o := t.own[id]; o != nil && o.counts[m].Dropped > 0 && o.logged != m {
			o.logged = m // once a minute per project and gateway
			t.log.Info("spike protection is capping a project's errors", slog.Int64("project_id", id),
				slog.Int64("cap_per_minute", st.Cap), slog.Float64("baseline_per_minute", st.Baseline), slog.Int64("dropped_this_minute", st.Dropped))
		}
		if len(t.others[id]) == 0 && t.own[id] == nil {
			t.projects.Delete(id) // nothing counted anywhere in the window
		}
		return true
	})
	t.mu.Unlock()
	for _, p := range puts {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := t.kv.Put(pctx, p.key, p.val)
		cancel()
		if err != nil {
			t.warn("spike counts not shared; caps use what this gateway knows", err)
			return
		}
	}
}

// ownRecord is the record this gateway writes for project id: its counts,
// and the earliest first minute any gateway knows, so history outlives a
// restarted gateway's record.
func (t *Tracker) ownRecord(id int64, o *ownRecord) Record {
	r := Record{First: o.first}
	for _, x := range t.others[id] {
		if x.First > 0 && x.First < r.First {
			r.First = x.First
		}
	}
	r.Counts = make([]Count, 0, len(o.counts))
	for _, c := range o.counts {
		r.Counts = append(r.Counts, c)
	}
	slices.SortFunc(r.Counts, func(a, b Count) int { return cmp.Compare(a.Minute, b.Minute) })
	return r
}

func (t *Tracker) warn(msg string, err error) {
	t.mu.Lock()
	now := time.Now()
	quiet := now.Sub(t.warned) < time.Minute
	if !quiet {
		t.warned = now
	}
	t.mu.Unlock()
	if !quiet {
		t.log.Warn(msg, slog.Any("error", err))
	}
}

// Status is project's spike protection as this gateway knows it now.
func (t *Tracker) Status(projectID int64) Status {
	m := t.cfg.MinuteOf(t.now())
	t.mu.Lock()
	defer t.mu.Unlock()
	var records []Record
	for _, r := range t.others[projectID] {
		records = append(records, r)
	}
	if o := t.own[projectID]; o != nil {
		records = append(records, t.ownRecord(projectID, o))
	}
	return t.cfg.Compute(records, m)
}
