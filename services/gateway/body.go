package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/semaphore"

	"github.com/faultline/faultline/libs/envelope"
)

// BodyLimits bound a request body before and after decompression.
type BodyLimits struct {
	Compressed   int64
	Decompressed int64
}

// smallBody is what a request may hold in body buffers without drawing on
// the shared memory budget: ordinary SDK traffic never waits for it.
const smallBody = 1 << 20

// memoryBudget bounds the memory all requests together hold in body buffers
// beyond smallBody each, so concurrent large bodies or decompression bombs
// (a buffer that doubles as it grows holds up to four times its limit while
// it reads) cannot exhaust the process: past the budget a request waits
// briefly, then gets 503 and its SDK retries later.
type memoryBudget struct {
	sem  *semaphore.Weighted
	wait time.Duration
}

func newMemoryBudget(bytes int64) *memoryBudget {
	return &memoryBudget{sem: semaphore.NewWeighted(bytes), wait: 5 * time.Second}
}

// charge is one request's draw on a budget; a nil charge draws on none.
type charge struct {
	ctx     context.Context
	budget  *memoryBudget
	charged int64
}

// room makes buf able to take need more bytes, drawing on the budget for
// capacity beyond smallBody.
func (c *charge) room(buf *bytes.Buffer, need int) error {
	if buf.Available() >= need {
		return nil
	}
	newCap := max(2*buf.Cap(), buf.Len()+need)
	if c != nil && c.budget != nil && newCap > smallBody {
		if want := int64(newCap-smallBody) - c.charged; want > 0 {
			ctx, cancel := context.WithTimeout(c.ctx, c.budget.wait)
			err := c.budget.sem.Acquire(ctx, want)
			cancel()
			if err != nil {
				return fmt.Errorf("%w: too many large bodies in flight", errUnavailable)
			}
			c.charged += want
		}
	}
	buf.Grow(newCap - buf.Len())
	return nil
}

// release gives the request's draw back.
func (c *charge) release() {
	if c != nil && c.charged > 0 {
		c.budget.sem.Release(c.charged)
		c.charged = 0
	}
}

// readLimited reads r into buf until EOF or until more than limit bytes have
// come, growing buf through c. It returns how many bytes it read.
func readLimited(buf *bytes.Buffer, r io.Reader, limit int64, c *charge) (int64, error) {
	var total int64
	for {
		if err := c.room(buf, 32<<10); err != nil {
			return total, err
		}
		space := buf.AvailableBuffer()
		space = space[:min(int64(cap(space)), limit+1-total)]
		n, err := r.Read(space)
		buf.Write(space[:n]) // space is buf's own free capacity: this only extends its length
		total += int64(n)
		switch {
		case total > limit, err == io.EOF:
			return total, nil
		case err != nil:
			return total, err
		}
	}
}

// DefaultBodyLimits follow Sentry's documented limits: 20 MiB on the wire,
// 100 MiB once decompressed.
var DefaultBodyLimits = BodyLimits{Compressed: 20 << 20, Decompressed: 100 << 20}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer { b := bufPool.Get().(*bytes.Buffer); b.Reset(); return b }

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 { // keep pooled buffers small; rare large bodies go to the GC
		bufPool.Put(b)
	}
}

var (
	gzipPool  = sync.Pool{}
	zstdPools sync.Map // decompressed limit → *sync.Pool of *zstd.Decoder made for it
)

// zstdPool returns the pool of decoders whose memory bound is limit: a
// decoder keeps the bound it was made with.
func zstdPool(limit int64) *sync.Pool {
	if p, ok := zstdPools.Load(limit); ok {
		return p.(*sync.Pool)
	}
	p, _ := zstdPools.LoadOrStore(limit, &sync.Pool{})
	return p.(*sync.Pool)
}

// ReadBody reads the request body, undoing its Content-Encoding, into a
// pooled buffer the caller returns with putBuf. Sizes are enforced while
// reading: a body that would grow past a limit is cut off with 413 without
// being held in memory.
func ReadBody(r *http.Request, lim BodyLimits) (*bytes.Buffer, error) {
	return readBody(r, lim, nil)
}

// readBody is ReadBody drawing on a memory budget through c.
func readBody(r *http.Request, lim BodyLimits, c *charge) (*bytes.Buffer, error) {
	if r.ContentLength > lim.Compressed {
		return nil, tooLarge("body_too_large", "request body of %d bytes exceeds the limit of %d", r.ContentLength, lim.Compressed)
	}
	wire := getBuf()
	n, err := readLimited(wire, r.Body, lim.Compressed, c)
	if errors.Is(err, errUnavailable) {
		putBuf(wire)
		return nil, err
	}
	if err != nil {
		putBuf(wire)
		return nil, &envelope.Error{Status: http.StatusBadRequest, Reason: "body_read", Detail: "reading request body: " + err.Error()}
	}
	if n > lim.Compressed {
		putBuf(wire)
		return nil, tooLarge("body_too_large", "request body exceeds the limit of %d bytes", lim.Compressed)
	}
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	if enc == "" || enc == "identity" {
		if int64(wire.Len()) > lim.Decompressed {
			putBuf(wire)
			return nil, tooLarge("body_too_large", "request body exceeds the limit of %d bytes", lim.Decompressed)
		}
		return wire, nil
	}
	defer putBuf(wire)
	return decompress(enc, wire.Bytes(), lim.Decompressed, c)
}

// Decompress undoes one Content-Encoding of b, producing at most limit bytes.
func Decompress(enc string, b []byte, limit int64) (*bytes.Buffer, error) {
	return decompress(enc, b, limit, nil)
}

func decompress(enc string, b []byte, limit int64, c *charge) (*bytes.Buffer, error) {
	var rd io.Reader
	var release func()
	src := bytes.NewReader(b)
	switch enc {
	case "gzip", "x-gzip":
		zr, _ := gzipPool.Get().(*gzip.Reader)
		if zr == nil {
			zr = new(gzip.Reader)
		}
		if err := zr.Reset(src); err != nil {
			return nil, badEncoding(enc, err)
		}
		zr.Multistream(true)
		rd, release = zr, func() { gzipPool.Put(zr) }
	case "deflate":
		// HTTP's deflate is zlib-wrapped, but several clients send raw
		// deflate; a zlib stream is told apart by its header checksum.
		if len(b) >= 2 && b[0]&0x0f == 8 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0 {
			zr, err := zlib.NewReader(src)
			if err != nil {
				return nil, badEncoding(enc, err)
			}
			rd, release = zr, func() { zr.Close() }
		} else {
			fr := flate.NewReader(src)
			rd, release = fr, func() { fr.Close() }
		}
	case "br":
		rd, release = brotli.NewReader(src), func() {}
	case "zstd":
		pool := zstdPool(limit)
		zr, _ := pool.Get().(*zstd.Decoder)
		if zr == nil {
			var err error
			// The decoder allocates the window a frame declares: bound it
			// by the limit, but allow the 8 MiB window streaming encoders
			// declare even for small bodies.
			mem := uint64(max(limit+1, 8<<20))
			zr, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxMemory(mem), zstd.WithDecoderMaxWindow(64<<20))
			if err != nil {
				return nil, badEncoding(enc, err)
			}
		}
		if err := zr.Reset(src); err != nil {
			return nil, badEncoding(enc, err)
		}
		rd, release = zr, func() { zr.Reset(nil); pool.Put(zr) }
	default:
		return nil, &envelope.Error{Status: http.StatusUnsupportedMediaType, Reason: "unsupported_encoding",
			Detail: fmt.Sprintf("unsupported Content-Encoding %q (want gzip, deflate, br or zstd)", enc)}
	}
	defer release()
	out := getBuf()
	n, err := readLimited(out, rd, limit, c)
	if errors.Is(err, errUnavailable) {
		putBuf(out)
		return nil, err
	}
	if n > limit {
		putBuf(out)
		return nil, tooLarge("decompressed_too_large", "decompressed body exceeds the limit of %d bytes", limit)
	}
	if err != nil {
		putBuf(out)
		return nil, badEncoding(enc, err)
	}
	return out, nil
}

func badEncoding(enc string, err error) error {
	// A zstd frame may declare a window or size past the limit up front.
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return tooLarge("decompressed_too_large", "%s body needs more memory than the limit allows: %v", enc, err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = errors.New("truncated stream")
	}
	return &envelope.Error{Status: http.StatusBadRequest, Reason: "bad_compression",
		Detail: fmt.Sprintf("body is not valid %s: %v", enc, err)}
}

func tooLarge(reason, format string, args ...any) error {
	return &envelope.Error{Status: http.StatusRequestEntityTooLarge, Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
