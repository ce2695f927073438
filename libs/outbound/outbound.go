// Package outbound owns Faultline's HTTP requests to addresses people
// configure (webhooks, chat services): a client with timeouts that refuses
// to connect to loopback, private, link-local, multicast, unspecified and
// cloud-metadata addresses. The check runs on the address actually dialled,
// after DNS resolution, so a name that resolves to an internal address
// (DNS rebinding included) does not get through.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbiddenAddress is returned (wrapped) when a request would connect to
// an address outbound requests may not reach.
var ErrForbiddenAddress = errors.New("outbound: address not allowed")

// Options configure a client.
type Options struct {
	AllowPrivate bool          // ALLOW_PRIVATE_WEBHOOKS: intranets and tests
	Timeout      time.Duration // whole request, body included; 0 is 10 s
}

// blocked are the ranges outbound requests never reach unless AllowPrivate.
var blocked = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",      // "this" network, unspecified
		"10.0.0.0/8",     // private
		"100.64.0.0/10",  // carrier-grade NAT
		"127.0.0.0/8",    // loopback
		"169.254.0.0/16", // link-local, cloud metadata (169.254.169.254)
		"172.16.0.0/12",  // private
		"192.0.0.0/24",   // IETF protocol assignments (incl. 192.0.0.192 Oracle metadata)
		"192.168.0.0/16", // private
		"198.18.0.0/15",  // benchmarking
		"224.0.0.0/4",    // multicast
		"240.0.0.0/4",    // reserved, broadcast
		"::/128",         // unspecified
		"::1/128",        // loopback
		"fc00::/7",       // unique local (incl. fd00:ec2::254, AWS metadata)
		"fe80::/10",      // link-local
		"ff00::/8",       // multicast
		"64:ff9b::/96",   // NAT64 of any IPv4 address, internal ones included
		"2001:db8::/32",  // documentation
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Allowed reports whether outbound requests may connect to addr when
// private addresses are not allowed.
func Allowed(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsValid() || addr.Zone() != "" {
		return false
	}
	for _, p := range blocked {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// control is the dialer's check of the address about to be connected to.
func control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
	}
	if !Allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s is a loopback, private, link-local, multicast or metadata address (ALLOW_PRIVATE_WEBHOOKS=true allows it)", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}

// NewClient returns a client for requests to configured URLs. It uses no
// proxy from the environment (a proxy would dial for it, unchecked), and
// follows no redirects: a receiver answers, it does not send the request
// elsewhere.
func NewClient(o Options) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !o.AllowPrivate {
		d.Control = control
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: o.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Forbidden reports whether err is a refusal of the destination address:
// retrying cannot help.
func Forbidden(err error) bool { return errors.Is(err, ErrForbiddenAddress) }

// Do is c.Do with ctx.
func Do(ctx context.Context, c *http.Client, req *http.Request) (*http.Response, error) {
	return c.Do(req.WithContext(ctx))
}
