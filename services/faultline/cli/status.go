package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/config"
)

// statusReport is what 'faultline status' shows: the pipeline's streams and
// consumers, the grouping projection's generations, and whether each engine
// answers. Its JSON form is the --json output.
type statusReport struct {
	NATS        reachability       `json:"nats"`
	Postgres    reachability       `json:"postgres"`
	ClickHouse  reachability       `json:"clickhouse"`
	Streams     []streamStatus     `json:"streams"`
	Consumers   []consumerStatus   `json:"consumers"`
	Projections []projectionStatus `json:"projections"`
}

// reachability says whether an engine answered. Configured is false when
// its variable is unset (ClickHouse only); Error has no credentials.
type reachability struct {
	Configured bool    `json:"configured"`
	OK         bool    `json:"ok"`
	Target     string  `json:"target,omitempty"` // the address asked, password redacted
	LatencyMS  float64 `json:"latency_ms,omitempty"`
	Error      string  `json:"error,omitempty"`
}

type streamStatus struct {
	Name      string    `json:"name"`
	Subjects  []string  `json:"subjects"`
	Replicas  int       `json:"replicas"`
	Messages  uint64    `json:"messages"`
	Bytes     uint64    `json:"bytes"`
	FirstSeq  uint64    `json:"first_seq"`
	FirstTime time.Time `json:"first_time"`
	LastSeq   uint64    `json:"last_seq"`
	LastTime  time.Time `json:"last_time"`
	Consumers int       `json:"consumers"`
}

type consumerStatus struct {
	Stream string `json:"stream"`
	Name   string `json:"name"`
	// Lag is the number of messages the consumer has not been given yet
	// (JetStream's num_pending): what autoscalers watch.
	Lag         uint64 `json:"lag"`
	AckPending  int    `json:"ack_pending"`
	Redelivered int    `json:"redelivered"` // redelivered and not yet acknowledged
	Waiting     int    `json:"waiting"`     // pull requests waiting: about the replicas fetching
	// Delivered and AckFloor are stream sequences.
	Delivered     uint64     `json:"delivered_seq"`
	AckFloor      uint64     `json:"ack_floor_seq"`
	LastDelivered *time.Time `json:"last_delivered,omitempty"`
}

// projectionStatus is one generation of the grouping projection: the live
// schema "grouping", a replay's "grouping_next", and the old generations a
// replay's switch left behind ("grouping_old_<unix time>").
type projectionStatus struct {
	Schema string     `json:"schema"`
	State  string     `json:"state"` // live, replaying or old
	Since  *time.Time `json:"since,omitempty"`
}

func status(ctx context.Context, cfg config.Config, args []string, out io.Writer) error {
	fs := newFlags("status", out)
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for each engine")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("status: unexpected arguments %q", fs.Args())
	}
	rep := collectStatus(ctx, cfg, *timeout)
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printStatus(out, rep)
	}
	var down []string
	for _, e := range []struct {
		name string
		r    reachability
	}{{"nats", rep.NATS}, {"postgres", rep.Postgres}, {"clickhouse", rep.ClickHouse}} {
		if e.r.Configured && !e.r.OK {
			down = append(down, e.name)
		}
	}
	if len(down) > 0 {
		return fmt.Errorf("status: %s unreachable", strings.Join(down, ", "))
	}
	return nil
}

func collectStatus(ctx context.Context, cfg config.Config, timeout time.Duration) statusReport {
	rep := statusReport{Streams: []streamStatus{}, Consumers: []consumerStatus{}, Projections: []projectionStatus{}}
	rep.NATS = natsStatus(ctx, cfg.NATSURL, timeout, &rep)
	rep.Postgres = postgresStatus(ctx, cfg.DatabaseURL, timeout, &rep)
	rep.ClickHouse = clickhouseStatus(ctx, cfg.ClickHouseURL, timeout)
	return rep
}

// timed runs f under timeout and records how long it took and how it ended.
func timed(ctx context.Context, timeout time.Duration, r *reachability, f func(context.Context) error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	err := f(ctx)
	r.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		r.Error = err.Error()
		return
	}
	r.OK = true
}

func natsStatus(ctx context.Context, natsURL string, timeout time.Duration, rep *statusReport) reachability {
	r := reachability{Configured: true, Target: redactURLs(natsURL)}
	if natsURL == "" {
		r.Error = "NATS_URL is not set: status reads the streams of a running NATS (a 'faultline serve' shares its embedded one with NATS_LISTEN)"
		return r
	}
	timed(ctx, timeout, &r, func(ctx context.Context) error {
		nc, err := nats.Connect(natsURL, nats.Name("faultline status"), nats.Timeout(timeout), nats.MaxReconnects(0))
		if err != nil {
			return err
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		streams := js.ListStreams(ctx)
		for si := range streams.Info() {
			s := si.State
			rep.Streams = append(rep.Streams, streamStatus{Name: si.Config.Name, Subjects: si.Config.Subjects,
				Replicas: si.Config.Replicas, Messages: s.Msgs, Bytes: s.Bytes, FirstSeq: s.FirstSeq,
				FirstTime: s.FirstTime, LastSeq: s.LastSeq, LastTime: s.LastTime, Consumers: s.Consumers})
		}
		if err := streams.Err(); err != nil {
			return fmt.Errorf("list streams: %w", err)
		}
		sort.Slice(rep.Streams, func(i, j int) bool { return rep.Streams[i].Name < rep.Streams[j].Name })
		for _, st := range rep.Streams {
			if st.Consumers == 0 {
				continue
			}
			s, err := js.Stream(ctx, st.Name)
			if err != nil {
				return fmt.Errorf("stream %s: %w", st.Name, err)
			}
			cons := s.ListConsumers(ctx)
			for ci := range cons.Info() {
				c := consumerStatus{Stream: ci.Stream, Name: ci.Name, Lag: ci.NumPending, AckPending: ci.NumAckPending,
					Redelivered: ci.NumRedelivered, Waiting: ci.NumWaiting,
					Delivered: ci.Delivered.Stream, AckFloor: ci.AckFloor.Stream, LastDelivered: ci.Delivered.Last}
				rep.Consumers = append(rep.Consumers, c)
			}
			if err := cons.Err(); err != nil {
				return fmt.Errorf("list consumers of %s: %w", st.Name, err)
			}
		}
		sort.Slice(rep.Consumers, func(i, j int) bool {
			a, b := rep.Consumers[i], rep.Consumers[j]
			return a.Stream < b.Stream || a.Stream == b.Stream && a.Name < b.Name
		})
		return nil
	})
	return r
}

func postgresStatus(ctx context.Context, databaseURL string, timeout time.Duration, rep *statusReport) reachability {
	r := reachability{Configured: true, Target: redactURLs(databaseURL)}
	timed(ctx, timeout, &r, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, databaseURL)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace
			WHERE nspname = 'grouping' OR nspname LIKE 'grouping\_%' ORDER BY nspname`)
		if err != nil {
			return err
		}
		schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, s := range schemas {
			if p, ok := projectionOf(s); ok {
				rep.Projections = append(rep.Projections, p)
			}
		}
		return nil
	})
	return r
}

// projectionOf names the generation a grouping schema holds (see
// grouping.Replay).
func projectionOf(schema string) (projectionStatus, bool) {
	switch {
	case schema == "grouping":
		return projectionStatus{Schema: schema, State: "live"}, true
	case schema == "grouping_next":
		return projectionStatus{Schema: schema, State: "replaying"}, true
	case strings.HasPrefix(schema, "grouping_old_"):
		p := projectionStatus{Schema: schema, State: "old"}
		if sec, err := strconv.ParseInt(strings.TrimPrefix(schema, "grouping_old_"), 10, 64); err == nil {
			t := time.Unix(sec, 0).UTC()
			p.Since = &t
		}
		return p, true
	}
	return projectionStatus{}, false
}

// clickhouseStatus pings CLICKHOUSE_URL: GET /ping over HTTP(S) (ClickHouse
// answers "Ok."), a TCP connection for the native protocol
// (clickhouse:// or tcp://, port 9000 by default).
func clickhouseStatus(ctx context.Context, chURL string, timeout time.Duration) reachability {
	if chURL == "" {
		return reachability{}
	}
	r := reachability{Configured: true, Target: redactURLs(chURL)}
	u, err := url.Parse(chURL)
	if err != nil || u.Host == "" {
		r.Error = "CLICKHOUSE_URL is not a URL with a host"
		return r
	}
	timed(ctx, timeout, &r, func(ctx context.Context) error {
		switch u.Scheme {
		case "http", "https":
			ping := url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/ping"}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, ping.String(), nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "Ok.") {
				return fmt.Errorf("GET %s: %s %q", ping.String(), resp.Status, strings.TrimSpace(string(body)))
			}
			return nil
		case "clickhouse", "tcp":
			host := u.Host
			if u.Port() == "" {
				host = net.JoinHostPort(u.Hostname(), "9000")
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", host)
			if err != nil {
				return err
			}
			return c.Close()
		}
		return errors.New("CLICKHOUSE_URL: scheme " + strconv.Quote(u.Scheme) + " is not http, https, clickhouse or tcp")
	})
	return r
}

// redactURLs hides the passwords of a comma-separated list of URLs.
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}

func printStatus(out io.Writer, rep statusReport) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENGINE\tSTATE\tTARGET")
	for _, e := range []struct {
		name string
		r    reachability
	}{{"nats", rep.NATS}, {"postgres", rep.Postgres}, {"clickhouse", rep.ClickHouse}} {
		state := "not configured"
		switch {
		case e.r.OK:
			state = fmt.Sprintf("ok (%.1f ms)", e.r.LatencyMS)
		case e.r.Configured:
			state = "DOWN: " + e.r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.name, state, e.r.Target)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "STREAM\tMESSAGES\tBYTES\tFIRST\tLAST\tREPLICAS\tCONSUMERS")
	for _, s := range rep.Streams {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%d\n", s.Name, s.Messages, humanBytes(s.Bytes),
			seqAt(s.FirstSeq, s.FirstTime, s.Messages), seqAt(s.LastSeq, s.LastTime, s.Messages), s.Replicas, s.Consumers)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "CONSUMER\tSTREAM\tLAG\tACK PENDING\tREDELIVERED\tWAITING\tLAST DELIVERED")
	for _, c := range rep.Consumers {
		last := "-"
		if c.LastDelivered != nil {
			last = c.LastDelivered.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", c.Name, c.Stream, c.Lag, c.AckPending, c.Redelivered, c.Waiting, last)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "PROJECTION\tSTATE\tSINCE")
	for _, p := range rep.Projections {
		since := "-"
		if p.Since != nil {
			since = p.Since.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Schema, p.State, since)
	}
	tw.Flush()
}

func seqAt(seq uint64, t time.Time, msgs uint64) string {
	if msgs == 0 {
		return "-"
	}
	return fmt.Sprintf("#%d %s", seq, t.UTC().Format(time.RFC3339))
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
