package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/e2e/harness"
	"github.com/faultline/faultline/libs/clickhouse/chtest"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/pg/pgtest"
)

const (
	loadFor    = 20 * time.Second      // how long the senders post
	stopAfter  = 6 * time.Second       // into the load, the INGEST leader's node stops
	downFor    = 5 * time.Second       // how long it stays down before its restart
	senders    = 8                     // concurrent senders, each alternating between the gateways
	probeEvery = 20 * time.Millisecond // the probe's pace, whatever the answers
	// probesPerIssue: the probe's events open a new issue every this many
	// (every 0.2 s), so issues are created all through the failover.
	probesPerIssue = 10
	drainLimit     = 30 * time.Second // how soon after the load everything accepted must be stored
	issues         = 20               // fingerprints the events spread over
)

// TestScaleOutSurvivesLeaderLoss runs faultline scaled out over a
// three-node JetStream cluster: two gateways, three grouping replicas, two
// of every other consumer (alerting, analytics on a real ClickHouse,
// sourcemaps) and an api, each a process of its own, with
// INGEST_REPLICAS=3. A first-seen alert rule posts to a real webhook
// receiver, and the probe opens a new issue every few requests, so issues
// are created, and notified, throughout the failover. Senders post
// distinct SDK-shaped error events through both gateways for 20 s, and a
// probe posts at a steady pace; 6 s in, the node leading the INGEST stream
// is stopped, and 5 s later it is started again with the same store and
// ports. Every event a gateway answered 200 must be stored exactly once,
// counted once in its issue; grouping must have nothing left to do, the
// restarted node must be a current replica again, and the gateways must
// hold no publish whose acknowledgement the failover lost. Every issue is
// notified exactly once, and ClickHouse holds every stored event once. How
// long the gateways refused events during the
// failover, the throughput, and each process's CPU time are logged
// (docs/scaling.md quotes them).
func TestScaleOutSurvivesLeaderLoss(t *testing.T) {
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	nodes := startCluster(t, 3)
	natsURL := clientURLs(nodes)
	nc, err := nats.Connect(natsURL, nats.Name(t.Name()), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitJetStream(ctx, js); err != nil {
		t.Fatalf("%v; %s", err, clusterState(nodes))
	}

	dbURL := newDatabase(t)
	chURL := chtest.NewDatabaseT(t)
	hook := newHook(t)
	env, api := startAPI(ctx, t, bin, dbURL, natsURL, "LOG_LEVEL=info", "CLICKHOUSE_URL="+chURL, "ALLOW_PRIVATE_WEBHOOKS=true")
	started := time.Now()
	var gateways, groupers, consumers []*proc
	for i := range 2 {
		gateways = append(gateways, startRole(t, bin, "gateway", fmt.Sprintf("gateway-%d", i+1), env))
	}
	for i := range 3 {
		groupers = append(groupers, startRole(t, bin, "grouping", fmt.Sprintf("grouping-%d", i+1), env))
	}
	for _, role := range []string{"alerting", "analytics", "sourcemaps"} {
		for i := range 2 {
			consumers = append(consumers, startRole(t, bin, role, fmt.Sprintf("%s-%d", role, i+1), env))
		}
	}
	procs := slices.Concat([]*proc{api}, gateways, groupers, consumers)
	for _, p := range procs {
		if err := p.waitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("2 gateways, 3 grouping replicas and 2 each of alerting, analytics and sourcemaps ready in %v",
		time.Since(started).Round(time.Millisecond))

	project, key := createProject(ctx, t, bin, env, gateways[0].URL)
	notifyNewIssues(ctx, t, bin, env, api.URL, project, hook.URL)
	for _, g := range gateways {
		if err := waitKey(ctx, g.URL, project, key); err != nil {
			t.Fatal(err)
		}
	}
	ingest, err := js.Stream(ctx, "INGEST")
	if err != nil {
		t.Fatal(err)
	}
	grouping, err := js.Consumer(ctx, "INGEST", "grouping")
	if err != nil {
		t.Fatal(err)
	}
	if err := waitReplicas(ctx, ingest, 3); err != nil {
		t.Fatal(err)
	}
	if sample, err := envelope(newEventID(), 0); err == nil {
		t.Logf("each event: an envelope of %d bytes, uncompressed", len(sample))
	}
	cpuBefore := map[string]time.Duration{"test": selfCPU()}
	for _, p := range procs {
		cpuBefore[p.name] = p.cpu()
	}

	// Load, with the INGEST leader's node stopped and restarted in the
	// middle of it.
	var (
		mu      sync.Mutex
		results []result
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	client := &http.Client{Timeout: 15 * time.Second}
	loadStart := time.Now()
	// The probe posts every probeEvery whatever the answers, alternating
	// between the gateways, as a fleet of SDKs would: the senders wait for
	// each answer, so requests a failover holds up hold them up too.
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(probeEvery)
		defer tick.Stop()
		var probes sync.WaitGroup
		defer probes.Wait()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			probes.Add(1)
			go func() {
				defer probes.Done()
				gw := i % len(gateways)
				id := newEventID()
				start := time.Now()
				status, err := send(client, gateways[gw].URL, project, key, id, issues+i/probesPerIssue)
				mu.Lock()
				results = append(results, result{id: id, gateway: gw, probe: true, index: i, start: start, end: time.Now(), status: status, err: err})
				mu.Unlock()
			}()
		}
	}()
	for w := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				gw := (w + i) % len(gateways)
				id := newEventID()
				start := time.Now()
				status, err := send(client, gateways[gw].URL, project, key, id, (w*31+i)%issues)
				mu.Lock()
				results = append(results, result{id: id, gateway: gw, start: start, end: time.Now(), status: status, err: err})
				mu.Unlock()
			}
		}()
	}

	time.Sleep(stopAfter)
	info, err := ingest.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		t.Fatalf("INGEST has no cluster leader: %+v", info.Cluster)
	}
	var leader *node
	for _, nd := range nodes {
		if nd.name == info.Cluster.Leader {
			leader = nd
		}
	}
	if leader == nil {
		t.Fatalf("INGEST's leader %q is none of the test's nodes", info.Cluster.Leader)
	}
	stoppedAt := time.Now()
	leader.stop()
	t.Logf("stopped %s, the INGEST leader, %v into the load", leader.name, stoppedAt.Sub(loadStart).Round(time.Millisecond))
	time.Sleep(downFor)
	restartedAt := time.Now()
	if err := leader.start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted %s after %v down", leader.name, restartedAt.Sub(stoppedAt).Round(time.Millisecond))
	time.Sleep(time.Until(loadStart.Add(loadFor)))
	close(stop)
	wg.Wait()
	loadEnd := time.Now()
	storedAtLoadEnd, err := countStored(ctx, dbURL, project)
	if err != nil {
		t.Fatal(err)
	}

	accepted := map[string]bool{}
	for _, r := range results {
		if r.status == http.StatusOK {
			accepted[r.id] = true
		}
	}
	if len(accepted) == 0 {
		t.Fatal("no event was accepted")
	}

	// Everything accepted is stored, and grouping has nothing left.
	var stored map[string]int
	for {
		// The consumer first: grouping acknowledges after commit, so once
		// nothing is pending the rows read next hold everything it took.
		ci, err := grouping.Info(ctx)
		if err != nil {
			t.Logf("grouping consumer info: %v", err)
		}
		if stored, err = storedEvents(ctx, dbURL, project); err != nil {
			t.Fatal(err)
		}
		missing := 0
		for id := range accepted {
			if stored[id] == 0 {
				missing++
			}
		}
		if missing == 0 && ci != nil && ci.NumPending == 0 && ci.NumAckPending == 0 {
			break
		}
		if time.Since(loadEnd) > drainLimit {
			pending, ackPending := "?", "?"
			if ci != nil {
				pending, ackPending = strconv.FormatUint(ci.NumPending, 10), strconv.Itoa(ci.NumAckPending)
			}
			t.Fatalf("%v after the load %d of %d accepted events are not stored; grouping has %s pending and %s unacknowledged",
				drainLimit, missing, len(accepted), pending, ackPending)
		}
		time.Sleep(200 * time.Millisecond)
	}
	drained := time.Since(loadEnd)

	// The gateways forget publishes whose acknowledgement the failover lost
	// (they answered 503 for them): nothing stays pending for good.
	for _, g := range gateways {
		first := -1.0
		for {
			n, err := g.metric("faultline_gateway_publish_pending")
			if err != nil {
				t.Fatal(err)
			}
			if first < 0 {
				first = n
			}
			if n == 0 {
				if first > 0 {
					t.Logf("%s: %.0f publishes awaited an acknowledgement after the drain, none %v after the stop",
						g.name, first, time.Since(stoppedAt).Round(time.Millisecond))
				}
				break
			}
			if time.Since(stoppedAt) > natsx.PublishAckTimeout+15*time.Second {
				t.Errorf("%s: %.0f publishes still await an acknowledgement %v after the stop",
					g.name, n, time.Since(stoppedAt).Round(time.Millisecond))
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// Exactly once: one row per event, each counted once in its issue. An
	// event refused with 503 may have been stored all the same (the publish
	// reached JetStream, its acknowledgement did not reach the gateway); it
	// too must be stored once at most.
	rows := 0
	for id, n := range stored {
		rows += n
		if n != 1 {
			t.Errorf("event %s is stored %d times", id, n)
		}
	}
	seen, nIssues, err := timesSeen(ctx, dbURL, project)
	if err != nil {
		t.Fatal(err)
	}
	if seen != int64(rows) {
		t.Errorf("the project's %d issues have seen %d events, %d are stored", nIssues, seen, rows)
	}
	fingerprints := map[int]bool{}
	for _, r := range results {
		if r.probe && stored[r.id] > 0 {
			fingerprints[issues+r.index/probesPerIssue] = true
		}
	}
	if want := issues + len(fingerprints); nIssues != want {
		t.Errorf("%d issues, want %d (one per fingerprint stored: %d of the senders', %d of the probe's)",
			nIssues, want, issues, len(fingerprints))
	}

	// Alerting: two replicas, one webhook per new issue, none twice, none
	// missing, though the EVENTS stream failed over under them.
	ids, err := issueIDs(ctx, dbURL, project)
	if err != nil {
		t.Fatal(err)
	}
	if err := hook.waitFor(ctx, ids, drainLimit); err != nil {
		t.Error(err)
	}
	// Analytics: two replicas, every stored event once in ClickHouse.
	if err := waitAnalytics(ctx, chURL, project, rows, drainLimit); err != nil {
		t.Error(err)
	}

	// What it took: refusals around the failover, throughput, CPU.
	logFailover(t, results, len(gateways), stoppedAt)
	logProbe(t, results, len(gateways), stoppedAt)
	loadSecs := loadEnd.Sub(loadStart).Seconds()
	before, after := 0, 0
	for _, r := range results {
		if r.status != http.StatusOK {
			continue
		}
		if r.end.Before(stoppedAt) {
			before++
		} else if r.end.After(restartedAt) {
			after++
		}
	}
	t.Logf("accepted: %.0f events/s before the stop, %.0f events/s from the restart to the end",
		float64(before)/stoppedAt.Sub(loadStart).Seconds(), float64(after)/loadEnd.Sub(restartedAt).Seconds())
	var took []time.Duration
	for _, r := range results {
		if r.status == http.StatusOK {
			took = append(took, r.end.Sub(r.start))
		}
	}
	slices.Sort(took)
	t.Logf("latency of the 200s: p50 %v, p99 %v, max %v", took[len(took)/2].Round(time.Microsecond*100),
		took[len(took)*99/100].Round(time.Microsecond*100), took[len(took)-1].Round(time.Millisecond))
	t.Logf("load: %d requests in %.1f s, %d accepted (%.0f events/s through 2 gateways), %d stored (%d accepted, %d answered otherwise), %d issues",
		len(results), loadSecs, len(accepted), float64(len(accepted))/loadSecs, rows, len(accepted), rows-len(accepted), nIssues)
	t.Logf("grouping: %d stored by the end of the load (%.0f events/s by 3 replicas), the rest within %v",
		storedAtLoadEnd, float64(storedAtLoadEnd)/loadSecs, drained.Round(time.Millisecond))
	var cpu []string
	for _, p := range procs {
		used := p.cpu() - cpuBefore[p.name]
		cpu = append(cpu, fmt.Sprintf("%s %.1f s (%.0f%% of a core)", p.name, used.Seconds(), 100*used.Seconds()/loadSecs))
	}
	used := selfCPU() - cpuBefore["test"]
	cpu = append(cpu, fmt.Sprintf("the test process (3 NATS nodes and the senders) %.1f s (%.0f%% of a core)", used.Seconds(), 100*used.Seconds()/loadSecs))
	t.Logf("CPU during the load: %s", strings.Join(cpu, ", "))
	if err := waitReplicas(ctx, ingest, 3); err != nil {
		t.Errorf("after the restart: %v", err)
	}
}

// result is one request's outcome.
type result struct {
	id         string
	gateway    int
	probe      bool // sent by the probe, not a sender
	index      int  // the probe's count
	start, end time.Time
	status     int // 0: no answer (err)
	err        error
}

// logFailover logs, per gateway, what its clients saw once the node
// stopped: how many requests were refused (503) or failed without an
// answer, when those were sent and how long they took, until when refusals
// went on, and the longest time without a 200.
func logFailover(t *testing.T, results []result, gateways int, stoppedAt time.Time) {
	t.Helper()
	for gw := range gateways {
		var mine []result
		for _, r := range results {
			if r.gateway == gw && !r.end.Before(stoppedAt) {
				mine = append(mine, r)
			}
		}
		slices.SortFunc(mine, func(a, b result) int { return a.end.Compare(b.end) })
		var (
			statuses            = map[string]int{}
			notOK               int
			firstSent, lastSent time.Time
			lastAnswer          time.Time
			slowest, slowestNot time.Duration
			lastOK              = stoppedAt
			longestGap          time.Duration
		)
		for _, r := range mine {
			took := r.end.Sub(r.start)
			slowest = max(slowest, took)
			if r.status == http.StatusOK {
				longestGap = max(longestGap, r.end.Sub(lastOK))
				lastOK = r.end
				continue
			}
			notOK++
			if r.err != nil {
				statuses["no answer"]++
			} else {
				statuses[strconv.Itoa(r.status)]++
			}
			if firstSent.IsZero() || r.start.Before(firstSent) {
				firstSent = r.start
			}
			if r.start.After(lastSent) {
				lastSent = r.start
			}
			lastAnswer = r.end
			slowestNot = max(slowestNot, took)
		}
		since := func(at time.Time) time.Duration { return at.Sub(stoppedAt).Round(time.Millisecond) }
		if notOK == 0 {
			t.Logf("gateway-%d: every request after the stop answered 200; longest time without a 200 %v, slowest request %v",
				gw+1, longestGap.Round(time.Millisecond), slowest.Round(time.Millisecond))
			continue
		}
		t.Logf("gateway-%d: %d requests not answered 200 (%v), sent %v to %v after the stop, taking up to %v; the last such answer %v after the stop; longest time without a 200 %v, slowest request %v",
			gw+1, notOK, statuses, since(firstSent), since(lastSent), slowestNot.Round(time.Millisecond),
			since(lastAnswer), longestGap.Round(time.Millisecond), slowest.Round(time.Millisecond))
	}
}

// logProbe logs, per gateway, what the probe's requests sent after the
// stop saw: how soon one sent after the stop was answered 200, and which
// were not answered 200 (or only after a second).
func logProbe(t *testing.T, results []result, gateways int, stoppedAt time.Time) {
	t.Helper()
	const slow = time.Second
	for gw := range gateways {
		var mine []result
		for _, r := range results {
			if r.probe && r.gateway == gw && !r.start.Before(stoppedAt) {
				mine = append(mine, r)
			}
		}
		slices.SortFunc(mine, func(a, b result) int { return a.start.Compare(b.start) })
		var (
			firstOK     time.Duration = -1
			notOK, late int
			lastBad     time.Duration
			slowest     time.Duration
		)
		for _, r := range mine {
			took := r.end.Sub(r.start)
			slowest = max(slowest, took)
			if r.status == http.StatusOK && firstOK < 0 {
				firstOK = r.end.Sub(stoppedAt)
			}
			if r.status != http.StatusOK {
				notOK++
			} else if took > slow {
				late++
			} else {
				continue
			}
			lastBad = r.start.Sub(stoppedAt)
		}
		bad := fmt.Sprintf("every one answered 200 within %v", slow)
		if notOK+late > 0 {
			bad = fmt.Sprintf("%d not answered 200 and %d answered 200 after more than %v, the last of them sent %v after the stop",
				notOK, late, slow, lastBad.Round(time.Millisecond))
		}
		t.Logf("gateway-%d probe: %d requests sent after the stop; the first 200 came %v after the stop; %s; slowest %v",
			gw+1, len(mine), firstOK.Round(time.Millisecond), bad, slowest.Round(time.Millisecond))
	}
}

// waitJetStream waits until the cluster's JetStream answers: its meta group
// has a leader.
func waitJetStream(ctx context.Context, js jetstream.JetStream) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.AccountInfo(actx)
		acancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("jetstream cluster not ready: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// clusterState describes each node's routes and JetStream state, for a
// cluster that does not come up.
func clusterState(nodes []*node) string {
	var out []string
	for _, nd := range nodes {
		if nd.srv == nil {
			out = append(out, nd.name+": stopped")
			continue
		}
		out = append(out, fmt.Sprintf("%s: %d routes, jetstream enabled %v, meta leader %v, current %v",
			nd.name, nd.srv.NumRoutes(), nd.srv.JetStreamEnabled(), nd.srv.JetStreamIsLeader(), nd.srv.JetStreamIsCurrent()))
	}
	return strings.Join(out, "; ")
}

// waitReplicas waits until the stream has a leader and n-1 current
// followers.
func waitReplicas(ctx context.Context, s jetstream.Stream, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	last := "no answer"
	for {
		info, err := s.Info(ctx)
		if err == nil && info.Cluster != nil {
			current := 0
			for _, r := range info.Cluster.Replicas {
				if r.Current {
					current++
				}
			}
			if info.Cluster.Leader != "" && len(info.Cluster.Replicas) == n-1 && current == n-1 {
				return nil
			}
			last = fmt.Sprintf("leader %q, %d of %d followers current", info.Cluster.Leader, current, len(info.Cluster.Replicas))
		} else if err != nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("INGEST does not have %d current replicas: %s", n, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// newDatabase names a fresh Postgres database (migrate creates it) and
// drops it when the test ends.
func newDatabase(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	db := &pgtest.DB{Name: "faultline_e2e_cluster_" + hex.EncodeToString(b)}
	u, err := url.Parse(pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db.Name
	db.URL = u.String()
	t.Cleanup(db.Drop)
	return db.URL
}

// createProject runs `faultline project create` and returns the project's
// id and public key from the DSN it prints last.
func createProject(ctx context.Context, t *testing.T, bin string, env []string, publicURL string) (int64, string) {
	t.Helper()
	out, err := run(ctx, bin, append(env, "PUBLIC_URL="+publicURL), "project", "create", "--org", "e2e", "cluster")
	if err != nil {
		t.Fatalf("faultline project create: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	u, err := url.Parse(strings.TrimSpace(lines[len(lines)-1]))
	if err != nil || u.User == nil {
		t.Fatalf("project create printed %q last, not a DSN", lines[len(lines)-1])
	}
	id, err := strconv.ParseInt(strings.Trim(u.Path, "/"), 10, 64)
	if err != nil {
		t.Fatalf("DSN %s: project id: %v", u, err)
	}
	return id, u.User.Username()
}

// waitKey waits until the gateway knows the key: a body that is no
// envelope is then answered 400 rather than 401.
func waitKey(ctx context.Context, gateway string, project int64, key string) error {
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/api/%d/envelope/", gateway, project), strings.NewReader("not an envelope"))
		if err != nil {
			return err
		}
		req.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_key="+key)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusBadRequest {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gateway %s does not know the project's key: last answer %s", gateway, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func newEventID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var errDeclined = errors.New("card declined")

// envelope is an error event as sentry-go builds it (an exception chain
// with the sender's stack trace, SDK info, release), fingerprinted into one
// of the issues, in an envelope as the SDK's transport sends it.
func envelope(id string, issue int) ([]byte, error) {
	ev := sentry.NewEvent()
	ev.EventID = sentry.EventID(id)
	ev.Level = sentry.LevelError
	ev.Platform = "go"
	ev.Timestamp = time.Now().UTC()
	ev.Release = "cluster-e2e@1.0.0"
	ev.Environment = "e2e"
	ev.ServerName = "cluster-e2e"
	ev.Sdk = sentry.SdkInfo{Name: "sentry.go", Version: sentry.SDKVersion}
	// Not "{{ default }}": the stack trace differs between the probe's and
	// the senders' goroutines.
	ev.Fingerprint = []string{"checkout-" + strconv.Itoa(issue)}
	ev.SetException(fmt.Errorf("charge order %s: %w", id[:8], errDeclined), -1)
	ev.Message = ""
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	header, err := json.Marshal(map[string]any{
		"event_id": id,
		"sent_at":  time.Now().UTC().Format(time.RFC3339Nano),
		"sdk":      map[string]string{"name": "sentry.go", "version": sentry.SDKVersion},
	})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(header)
	fmt.Fprintf(&b, "\n{\"type\":\"event\",\"length\":%d}\n", len(payload))
	b.Write(payload)
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// send posts one event to a gateway; status is 0 when there was no answer.
func send(c *http.Client, gateway string, project int64, key, id string, issue int) (int, error) {
	body, err := envelope(id, issue)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/%d/envelope/", gateway, project), bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-sentry-envelope")
	req.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_client=sentry.go/"+sentry.SDKVersion+", sentry_key="+key)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// storedEvents counts the project's stored events by id.
func storedEvents(ctx context.Context, dbURL string, project int64) (map[string]int, error) {
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer db.Close(ctx)
	rows, err := db.Query(ctx, `SELECT replace(event_id::text, '-', ''), count(*) FROM grouping.events WHERE project_id = $1 GROUP BY event_id`, project)
	if err != nil {
		return nil, fmt.Errorf("read stored events: %w", err)
	}
	out := map[string]int{}
	var id string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error { out[id] = n; return nil })
	return out, err
}

// countStored is how many events of the project are stored.
func countStored(ctx context.Context, dbURL string, project int64) (int, error) {
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer db.Close(ctx)
	var n int
	err = db.QueryRow(ctx, `SELECT count(*) FROM grouping.events WHERE project_id = $1`, project).Scan(&n)
	return n, err
}

// timesSeen sums the project's issues' times_seen and counts the issues.
func timesSeen(ctx context.Context, dbURL string, project int64) (int64, int, error) {
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close(ctx)
	var seen int64
	var n int
	err = db.QueryRow(ctx, `SELECT coalesce(sum(times_seen), 0), count(*) FROM grouping.issues WHERE project_id = $1`, project).Scan(&seen, &n)
	return seen, n, err
}
