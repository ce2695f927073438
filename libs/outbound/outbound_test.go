package outbound

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestAllowed(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"93.184.216.34", true},
		{"2606:4700::6810:85e5", true},
		{"127.0.0.1", false},
		{"127.8.9.1", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.20.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // AWS, GCP, Azure metadata
		{"fd00:ec2::254", false},   // AWS metadata over IPv6
		{"100.100.100.200", false}, // Alibaba metadata (CGNAT range)
		{"0.0.0.0", false},
		{"::", false},
		{"224.0.0.1", false},
		{"ff02::1", false},
		{"fe80::1", false},
		{"::ffff:127.0.0.1", false}, // IPv4-mapped loopback
		{"::ffff:10.0.0.1", false},
		{"64:ff9b::a00:1", false},
	} {
		if got := Allowed(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Allowed(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestLocalServerRefusedUnlessAllowed(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(204)
	}))
	defer srv.Close()

	// By its address and by a name that resolves to loopback: the check is
	// on the address dialled, not on the URL.
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	for _, u := range []string{srv.URL, "http://localhost:" + port + "/"} {
		resp, err := NewClient(Options{Timeout: 5 * time.Second}).Get(u)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s: succeeded, want refused", u)
		}
		if !Forbidden(err) {
			t.Fatalf("GET %s: %v, want ErrForbiddenAddress", u, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("the server was reached %d times", hits.Load())
	}

	resp, err := NewClient(Options{AllowPrivate: true}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || hits.Load() != 1 {
		t.Fatalf("allowed: status %d, hits %d", resp.StatusCode, hits.Load())
	}
}

func TestNoRedirectsAndTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
			return
		}
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	}))
	defer srv.Close()
	c := NewClient(Options{AllowPrivate: true, Timeout: 200 * time.Millisecond})
	resp, err := c.Get(srv.URL + "/go")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d: the redirect was followed", resp.StatusCode)
	}
	ctx := context.Background()
	req, _ := http.NewRequest("GET", srv.URL+"/slow", nil)
	if _, err := Do(ctx, c, req); err == nil {
		t.Fatal("a receiver slower than the timeout answered")
	}
}
