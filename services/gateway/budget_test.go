package gateway

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// gzipOf compresses n bytes of zeros: a small body that inflates to n.
func gzipOf(t *testing.T, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(make([]byte, n))
	w.Close()
	return b.Bytes()
}

func TestMemoryBudgetBoundsLargeBodies(t *testing.T) {
	budget := newMemoryBudget(8 << 20)
	budget.wait = 50 * time.Millisecond
	lim := BodyLimits{Compressed: 1 << 20, Decompressed: 32 << 20}
	read := func(c *charge, n int) (*bytes.Buffer, error) {
		r := httptest.NewRequest("POST", "/api/1/envelope/", bytes.NewReader(gzipOf(t, n)))
		r.Header.Set("Content-Encoding", "gzip")
		return readBody(r, lim, c)
	}

	// Small bodies never draw on the budget.
	small := &charge{ctx: context.Background(), budget: budget}
	if _, err := read(small, 200<<10); err != nil || small.charged != 0 {
		t.Fatalf("small body: err %v, charged %d; want nil, 0", err, small.charged)
	}

	// A 5 MiB body holds most of the 8 MiB budget while it is in flight...
	first := &charge{ctx: context.Background(), budget: budget}
	buf, err := read(first, 5<<20)
	if err != nil || buf.Len() != 5<<20 {
		t.Fatalf("first large body: err %v", err)
	}
	if first.charged == 0 || first.charged > 8<<20 {
		t.Fatalf("first body charged %d bytes, want between 1 and the budget", first.charged)
	}
	// ...so a second one waits, then is refused as unavailable (503), not
	// read into memory past the budget.
	second := &charge{ctx: context.Background(), budget: budget}
	if _, err := read(second, 5<<20); !errors.Is(err, errUnavailable) {
		t.Fatalf("second large body while the first is held: err %v, want errUnavailable", err)
	}
	second.release()
	// Once the first request ends, the budget is there again.
	first.release()
	third := &charge{ctx: context.Background(), budget: budget}
	if _, err := read(third, 5<<20); err != nil {
		t.Fatalf("large body after release: %v", err)
	}
	third.release()
	if !budget.sem.TryAcquire(8 << 20) {
		t.Fatal("budget not fully released")
	}
}

func TestBombWithinBudgetIs413(t *testing.T) {
	budget := newMemoryBudget(64 << 20)
	lim := BodyLimits{Compressed: 1 << 20, Decompressed: 16 << 20}
	r := httptest.NewRequest("POST", "/api/1/envelope/", bytes.NewReader(gzipOf(t, 64<<20)))
	r.Header.Set("Content-Encoding", "gzip")
	c := &charge{ctx: context.Background(), budget: budget}
	_, err := readBody(r, lim, c)
	if err == nil || errors.Is(err, errUnavailable) {
		t.Fatalf("bomb: err %v, want 413", err)
	}
	if c.charged > 64<<20 {
		t.Fatalf("bomb charged %d bytes", c.charged)
	}
	c.release()
}
