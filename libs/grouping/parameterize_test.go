package grouping

import "testing"

// TestParameterizeKinds: each kind Parameterize recognises, with what
// looks like it and must stay as it is.
func TestParameterizeKinds(t *testing.T) {
	tests := []struct {
		kind, in, want string
	}{
		{"ipv4", "connect to 10.0.0.1 failed", "connect to <ip> failed"},
		{"ipv4 with prefix", "route 10.12.0.0/16 unreachable", "route <ip> unreachable"},
		{"ipv4 with port", "dial tcp 10.0.3.17:5432: refused", "dial tcp <ip>:<int>: refused"},
		{"ipv6 full", "from 2001:0db8:85a3:0000:0000:8a2e:0370:7334 denied", "from <ip> denied"},
		{"ipv6 compressed", "from fe80::1ff:fe23:4567:890a denied", "from <ip> denied"},
		{"ipv6 with prefix", "network 2001:db8::/32 full", "network <ip> full"},
		{"ipv6 loopback", "bind ::1 failed", "bind <ip> failed"},
		{"ipv4-mapped ipv6", "peer ::ffff:192.0.2.128 reset", "peer <ip> reset"},
		{"not ipv6: a C++ scope", "in std::vector::at and Foo::bar()", "in std::vector::at and Foo::bar()"},
		{"not ipv4: a version", "upgrade to 1.2.3", "upgrade to <float>.<int>"},
		{"hostname", "connect to db-2.example.com failed", "connect to <hostname> failed"},
		{"hostname, upper case", "resolve API.EXAMPLE.NET: no such host", "resolve <hostname>: no such host"},
		{"hostname, country", "mail from smtp.mail.example.co.uk bounced", "mail from <hostname> bounced"},
		{"not hostname: a file", "cannot load index.html or app.js", "cannot load index.html or app.js"},
		{"not hostname: a property", "user.name is required", "user.name is required"},
		{"not hostname: mixed case", "Mixed.Com is not a host", "Mixed.Com is not a host"},
		{"not hostname: longer word", "example.community is down", "example.community is down"},
		{"datetime ISO 8601", "at 2024-05-01T10:00:03.5+02:00 ok", "at <datetime> ok"},
		{"datetime ISO 8601 UTC", "expired 2024-05-01T10:00:03Z", "expired <datetime>"},
		{"datetime RFC 1123", "on Wed, 01 May 2024 10:00:00 GMT", "on <datetime>"},
		{"datetime RFC 1123 numeric zone", "on Mon, 02 Jan 2006 15:04:05 -0700 late", "on <datetime> late"},
		{"datetime RFC 822", "at 02 Jan 06 15:04 MST", "at <datetime>"},
		{"datetime RFC 2822 no weekday", "at 2 Jan 2006 15:04:05 +0100", "at <datetime>"},
		{"datetime RFC 850", "since Monday, 02-Jan-06 15:04:05 MST", "since <datetime>"},
		{"datetime JavaScript", "at Thu Jan 02 2025 15:04:05 GMT+0100 (Central European Standard Time)!", "at <datetime>!"},
		{"date", "due 2024-05-01 and 12/31/2024", "due <date> and <date>"},
		{"time", "at 10:22:01,123 and 9:05", "at <time> and <time>"},
		{"not datetime: a weekday", "closed on Monday, 2 weeks", "closed on Monday, <int> weeks"},
		{"colon-separated integers", "version 12:345:6789", "version <int>:<int>:<int>"},
		{"dash-separated integers", "range 1-2-3 failed", "range <int>-<int>-<int> failed"},
		{"a dash after a word is not a minus", "port-8080 and shard-3", "port-<int> and shard-<int>"},
		{"a minus sign", "balance -12.50 and -7", "balance <float> and <int>"},
		{"bool", "retry=true strict=FALSE cache=True", "retry=<bool> strict=<bool> cache=<bool>"},
		{"not bool: without =", "true and false", "true and false"},
		{"not bool: a longer word", "mode=trueish", "mode=trueish"},
		{"quoted number", "expected '42' got \"3.14\"", "expected <quoted> got <quoted>"},
		{"quoted", "key 'user_id' missing", "key <quoted> missing"},
		{"hex", "ptr 0x7ffd5e2a and 0XDEAD", "ptr <hex> and <hex>"},
		{"hex without prefix", "id 9e107d9d372bb fails", "id <hex> fails"},
		{"not hex: a word", "deadbeef facade cafebabe", "deadbeef facade cafebabe"},
		{"uuid", "order 6f1c2a9e-5b7d-4c3e-9a1f-2b3c4d5e6f70", "order <uuid>"},
		{"sha1", "commit 3f786850e387550fdab836ed7e6dc881de23001b", "commit <sha1>"},
		{"md5", "etag 9e107d9d372bb6826bd81d3542a419d6", "etag <md5>"},
		{"md5-like: an undashed uuid", "id 1b4e28ba2fa111d2883f0016d3cca427", "id <md5>"},
		{"email", "mail bob.smith+tag@mail.example.co.uk now", "mail <email> now"},
		{"url", "GET https://api.example.com/v1/users/9?x=1 failed", "GET <url> failed"},
		{"swift transaction id", "Swift txb5b7f3d4e2c1a0f9e8d7c-0065f1a2b3 failed", "Swift <swift_txn_id> failed"},
		{"swift transaction id with suffix", "(txb5b7f3d4e2c1a0f9e8d7c-0065f1a2b3-dfw1)", "(<swift_txn_id>"},
		{"not swift: too short", "tx12-34", "tx12-<int>"},
		{"int", "user 42 not found", "user <int> not found"},
		{"not int: inside a word", "user42 v2 h264", "user42 v2 h264"},
		{"nothing", "Cannot read properties of undefined (reading map)", "Cannot read properties of undefined (reading map)"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			if got := Parameterize(tt.in); got != tt.want {
				t.Errorf("Parameterize(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if ref := refParameterize(tt.in); ref != tt.want {
				t.Errorf("the regexp reference gives %q, want %q", ref, tt.want)
			}
		})
	}
}

// Messages that differ only in a parameter's value group together; of
// different kinds, apart.
func TestParametersGroupByKind(t *testing.T) {
	hash := func(msg string) string {
		return Compute(normalize(t, []byte(`{"message":"`+msg+`"}`)), nil).Hashes[0]
	}
	ip, host := hash("connect to 10.0.0.1 failed"), hash("connect to db-2.example.com failed")
	if ip == host {
		t.Errorf("an IP address and a host name group together")
	}
	if got := hash("connect to 192.168.7.250 failed"); got != ip {
		t.Errorf("two IP addresses group apart")
	}
	if got := hash("connect to cache-1.internal.example.net failed"); got != host {
		t.Errorf("two host names group apart")
	}
}
