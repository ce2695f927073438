package cluster

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// node is one NATS server of the test's JetStream cluster. Its ports and
// store directory are fixed when it is made, so a restarted node comes back
// as the same member with the same data.
type node struct {
	name       string
	clientPort int
	routePort  int
	storeDir   string
	routes     string // nats://127.0.0.1:<route port> of every node, comma-separated
	srv        *server.Server
}

// startCluster starts n NATS servers on free loopback ports, routed to each
// other, each with JetStream and a store directory of its own; they are shut
// down when the test ends.
func startCluster(t *testing.T, n int) []*node {
	t.Helper()
	ports := freePorts(t, 2*n)
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i]))
	}
	nodes := make([]*node, n)
	for i := range n {
		nodes[i] = &node{
			name:       fmt.Sprintf("n%d", i+1),
			clientPort: ports[i],
			routePort:  ports[n+i],
			storeDir:   t.TempDir(),
			routes:     strings.Join(routes, ","),
		}
	}
	// Start them together: a node waits for its peers before JetStream's
	// meta group elects a leader.
	errs := make(chan error, n)
	for _, nd := range nodes {
		go func() { errs <- nd.start() }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.stop()
		}
	})
	return nodes
}

// start starts the node (again) with its ports and store directory.
func (nd *node) start() error {
	opts := &server.Options{
		ServerName: nd.name,
		Host:       "127.0.0.1",
		Port:       nd.clientPort,
		JetStream:  true,
		StoreDir:   nd.storeDir,
		// Limits well below what the machine has: JetStream otherwise
		// claims most of memory and disk for each of the three nodes.
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  4 << 30,
		Cluster: server.ClusterOpts{
			Name: "faultline-e2e",
			Host: "127.0.0.1",
			Port: nd.routePort,
		},
		Routes: server.RoutesFromStr(nd.routes),
		NoLog:  os.Getenv("CLUSTER_NATS_LOG") == "",
		NoSigs: true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("nats %s: %w", nd.name, err)
	}
	if !opts.NoLog {
		s.ConfigureLogger()
	}
	s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		s.Shutdown()
		return fmt.Errorf("nats %s not ready for connections on port %d", nd.name, nd.clientPort)
	}
	nd.srv = s
	return nil
}

// stop shuts the node down, as an operator stopping it would; its store
// directory stays for a restart.
func (nd *node) stop() {
	if nd.srv == nil {
		return
	}
	nd.srv.Shutdown()
	nd.srv.WaitForShutdown()
	nd.srv = nil
}

// clientURLs is every node's client URL, comma-separated, as NATS_URL takes
// them.
func clientURLs(nodes []*node) string {
	var urls []string
	for _, nd := range nodes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", nd.clientPort))
	}
	return strings.Join(urls, ",")
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
