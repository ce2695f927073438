package gateway

import (
	"bytes"
	stdflate "compress/flate"
	stdzlib "compress/zlib"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"

	"github.com/faultline/faultline/libs/envelope"
)

// encodings are the Content-Encodings SDKs send; "deflate-raw" is deflate
// without its zlib wrapper, which some clients send as "deflate".
var encodings = []string{"gzip", "deflate", "deflate-raw", "br", "zstd"}

// wireName is the Content-Encoding header an encoding travels under.
func wireName(enc string) string {
	if enc == "deflate-raw" {
		return "deflate"
	}
	return enc
}

// compress encodes b as an SDK would.
func compress(t testing.TB, enc string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch enc {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "deflate-raw":
		w, err = flate.NewWriter(&buf, flate.DefaultCompression)
	case "br":
		w = brotli.NewWriter(&buf)
	case "zstd":
		w, err = zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
	default:
		t.Fatalf("unknown encoding %q", enc)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sdkPayloads are the envelopes captured from real SDKs (e2e/capture).
func sdkPayloads(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("../../libs/envelope/testdata/sdk/*.envelope")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captured payloads: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".envelope")] = b
	}
	return out
}

func wantError(t *testing.T, err error, status int, reason string) {
	t.Helper()
	var ee *envelope.Error
	if !errors.As(err, &ee) {
		t.Fatalf("error = %v, want *envelope.Error %d %s", err, status, reason)
	}
	if ee.Status != status || ee.Reason != reason {
		t.Fatalf("error = %d %s (%s), want %d %s", ee.Status, ee.Reason, ee.Detail, status, reason)
	}
}

func TestDecompressSDKPayloads(t *testing.T) {
	for name, payload := range sdkPayloads(t) {
		for _, enc := range encodings {
			t.Run(name+"/"+enc, func(t *testing.T) {
				out, err := Decompress(wireName(enc), compress(t, enc, payload), DefaultBodyLimits.Decompressed)
				if err != nil {
					t.Fatalf("Decompress: %v", err)
				}
				if !bytes.Equal(out.Bytes(), payload) {
					t.Fatalf("Decompress gave %d bytes, want the %d sent", out.Len(), len(payload))
				}
				putBuf(out)
			})
		}
	}
}

// TestReadBodySDKWire reads bodies exactly as an SDK compressed them.
func TestReadBodySDKWire(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.envelope.*")
	if len(files) == 0 {
		t.Fatal("no compressed SDK bodies in testdata (see e2e/capture)")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			wire, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			name, enc, _ := strings.Cut(filepath.Base(f), ".envelope.")
			want, err := os.ReadFile("../../libs/envelope/testdata/sdk/" + name + ".envelope")
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodPost, "/api/42/envelope/", bytes.NewReader(wire))
			r.Header.Set("Content-Encoding", enc)
			got, err := ReadBody(r, DefaultBodyLimits)
			if err != nil {
				t.Fatalf("ReadBody: %v", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("ReadBody gave %d bytes, want the %d captured", got.Len(), len(want))
			}
			if _, err := envelope.Parse(got.Bytes(), envelope.DefaultLimits); err != nil {
				t.Fatalf("Parse: %v", err)
			}
		})
	}
}

// failingReader fails the test if anything reads it.
type failingReader struct{ t *testing.T }

func (f failingReader) Read([]byte) (int, error) {
	f.t.Error("body was read although its Content-Length is over the limit")
	return 0, io.EOF
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestReadBody(t *testing.T) {
	payload := []byte("{}\n{\"type\":\"event\"}\n{\"message\":\"hello\"}\n")
	lim := BodyLimits{Compressed: 1 << 10, Decompressed: 4 << 10}
	big := bytes.Repeat([]byte("x"), 2<<10)
	tests := []struct {
		name   string
		enc    string
		body   io.Reader
		length int64 // Content-Length; -1 for chunked
		lim    BodyLimits
		want   []byte
		status int
		reason string
	}{
		{name: "identity without header", body: bytes.NewReader(payload), length: int64(len(payload)), lim: lim, want: payload},
		{name: "identity named", enc: "identity", body: bytes.NewReader(payload), length: -1, lim: lim, want: payload},
		{name: "gzip", enc: "gzip", body: bytes.NewReader(compress(t, "gzip", payload)), length: -1, lim: lim, want: payload},
		{name: "x-gzip", enc: "x-gzip", body: bytes.NewReader(compress(t, "gzip", payload)), length: -1, lim: lim, want: payload},
		{name: "encoding in upper case with blanks", enc: " GZIP ", body: bytes.NewReader(compress(t, "gzip", payload)), length: -1, lim: lim, want: payload},
		{name: "deflate zlib", enc: "deflate", body: bytes.NewReader(compress(t, "deflate", payload)), length: -1, lim: lim, want: payload},
		{name: "deflate raw", enc: "deflate", body: bytes.NewReader(compress(t, "deflate-raw", payload)), length: -1, lim: lim, want: payload},
		{name: "br", enc: "br", body: bytes.NewReader(compress(t, "br", payload)), length: -1, lim: lim, want: payload},
		{name: "zstd", enc: "zstd", body: bytes.NewReader(compress(t, "zstd", payload)), length: -1, lim: lim, want: payload},
		{name: "compressed body inflating to exactly the limit", enc: "gzip", body: bytes.NewReader(compress(t, "gzip", make([]byte, 4<<10))), length: -1, lim: lim, want: make([]byte, 4<<10)},
		{name: "empty body", body: bytes.NewReader(nil), length: 0, lim: lim, want: []byte{}},
		{name: "unsupported encoding", enc: "compress", body: bytes.NewReader(payload), length: -1, lim: lim, status: 415, reason: "unsupported_encoding"},
		{name: "two encodings", enc: "gzip, br", body: bytes.NewReader(payload), length: -1, lim: lim, status: 415, reason: "unsupported_encoding"},
		{name: "Content-Length over the limit", body: failingReader{t}, length: lim.Compressed + 1, lim: lim, status: 413, reason: "body_too_large"},
		{name: "chunked body over the limit", body: bytes.NewReader(big), length: -1, lim: lim, status: 413, reason: "body_too_large"},
		{name: "identity body over the decompressed limit", body: bytes.NewReader(big), length: -1, lim: BodyLimits{Compressed: 4 << 10, Decompressed: 1 << 10}, status: 413, reason: "body_too_large"},
		{name: "compressed body inflating past the limit", enc: "gzip", body: bytes.NewReader(compress(t, "gzip", make([]byte, 4<<10+1))), length: -1, lim: lim, status: 413, reason: "decompressed_too_large"},
		{name: "read error", body: errReader{}, length: -1, lim: lim, status: 400, reason: "body_read"},
		{name: "gzip of nothing", enc: "gzip", body: bytes.NewReader(nil), length: 0, lim: lim, status: 400, reason: "bad_compression"},
		{name: "not gzip", enc: "gzip", body: bytes.NewReader(payload), length: -1, lim: lim, status: 400, reason: "bad_compression"},
		{name: "not zstd", enc: "zstd", body: bytes.NewReader(payload), length: -1, lim: lim, status: 400, reason: "bad_compression"},
		{name: "not brotli", enc: "br", body: bytes.NewReader(payload), length: -1, lim: lim, status: 400, reason: "bad_compression"},
		{name: "not deflate", enc: "deflate", body: bytes.NewReader(payload), length: -1, lim: lim, status: 400, reason: "bad_compression"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/api/1/envelope/", tt.body)
			r.ContentLength = tt.length
			if tt.enc != "" {
				r.Header.Set("Content-Encoding", tt.enc)
			}
			got, err := ReadBody(r, tt.lim)
			if tt.status != 0 {
				wantError(t, err, tt.status, tt.reason)
				return
			}
			if err != nil {
				t.Fatalf("ReadBody: %v", err)
			}
			if !bytes.Equal(got.Bytes(), tt.want) {
				t.Fatalf("ReadBody = %q, want %q", got.Bytes(), tt.want)
			}
		})
	}
}

func TestDecompressTruncated(t *testing.T) {
	payload := sdkPayloads(t)["go-error"]
	for _, enc := range encodings {
		full := compress(t, enc, payload)
		for _, cut := range []int{1, len(full) / 2, len(full) - 1} {
			t.Run(enc, func(t *testing.T) {
				_, err := Decompress(wireName(enc), full[:cut], DefaultBodyLimits.Decompressed)
				wantError(t, err, 400, "bad_compression")
			})
		}
	}
}

// TestDecompressLimitPerCall: a decoder reused from a pool must not keep
// the limit of the call that made it.
func TestDecompressLimitPerCall(t *testing.T) {
	payload := bytes.Repeat([]byte("abcdefgh"), 64<<10) // 512 KiB
	for _, enc := range encodings {
		t.Run(enc, func(t *testing.T) {
			small, err := Decompress(wireName(enc), compress(t, enc, []byte("{}\n")), 1<<10)
			if err != nil || small.String() != "{}\n" {
				t.Fatalf("small body under a small limit: %q, %v", small, err)
			}
			putBuf(small)
			z := compress(t, enc, payload)
			_, err = Decompress(wireName(enc), z, 1<<10)
			wantError(t, err, 413, "decompressed_too_large")
			out, err := Decompress(wireName(enc), z, 16<<20) // above zstd's default window
			if err != nil {
				t.Fatalf("with a larger limit after a smaller one: %v", err)
			}
			if !bytes.Equal(out.Bytes(), payload) {
				t.Fatal("payload changed")
			}
		})
	}
}

const (
	bombChunk = 64 << 20  // one repeated piece of zeros
	bombSize  = 512 << 20 // what a bomb inflates to
	bombLimit = 8 << 20   // the decompressed limit the bombs meet
)

var (
	bombsOnce sync.Once
	bombs     map[string][]byte
)

// makeBombs builds, cheaply, valid streams that inflate to bombSize zeros:
// members or frames are repeated where the format allows it, and a deflate
// stream repeats a flushed block whose back-references stay inside zeros.
func makeBombs(t testing.TB) map[string][]byte {
	bombsOnce.Do(func() {
		zeros := make([]byte, bombChunk)
		n := bombSize / bombChunk
		bombs = map[string][]byte{}

		// Raw deflate: A (first chunk, flushed), B (next chunk, flushed)
		// n-1 times, then the final block.
		var d bytes.Buffer
		fw, _ := flate.NewWriter(&d, flate.BestSpeed)
		fw.Write(zeros)
		fw.Flush()
		a := len(d.Bytes())
		fw.Write(zeros)
		fw.Flush()
		b := len(d.Bytes())
		fw.Close()
		raw := append([]byte{}, d.Bytes()[:a]...)
		for range n - 1 {
			raw = append(raw, d.Bytes()[a:b]...)
		}
		raw = append(raw, d.Bytes()[b:]...)
		bombs["deflate-raw"] = raw

		// zlib: the same stream with its header and Adler-32, which for
		// zeros is (size mod 65521)<<16 | 1.
		z := append([]byte{0x78, 0x01}, raw...)
		bombs["deflate"] = binary.BigEndian.AppendUint32(z, uint32(bombSize%65521)<<16|1)

		member := compress(t, "gzip", zeros)
		bombs["gzip"] = bytes.Repeat(member, n)

		// zstd frames from a streaming writer declare no content size.
		bombs["zstd"] = bytes.Repeat(compress(t, "zstd", zeros), n)
		// One frame that declares its size up front.
		var zd bytes.Buffer
		enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		enc.ResetContentSize(&zd, bombSize)
		for range n {
			enc.Write(zeros)
		}
		enc.Close()
		bombs["zstd-declared"] = zd.Bytes()

		var br bytes.Buffer
		bw := brotli.NewWriterLevel(&br, 1)
		for range n {
			bw.Write(zeros)
		}
		bw.Close()
		bombs["br"] = br.Bytes()
	})
	return bombs
}

// TestDecompressBombs: each bomb is cut off with 413 at the limit, and the
// memory allocated stays far below what the bomb inflates to.
func TestDecompressBombs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds half a gigabyte of zeros")
	}
	bombs := makeBombs(t)
	// The hand-stitched deflate streams must be what they claim: the
	// standard library's decoders inflate them to bombSize, checksum
	// included.
	for _, enc := range []string{"deflate-raw", "deflate"} {
		var rd io.Reader = stdflate.NewReader(bytes.NewReader(bombs[enc]))
		if enc == "deflate" {
			zr, err := stdzlib.NewReader(bytes.NewReader(bombs[enc]))
			if err != nil {
				t.Fatal(err)
			}
			rd = zr
		}
		if n, err := io.Copy(io.Discard, rd); err != nil || n != bombSize {
			t.Fatalf("%s bomb inflates to %d bytes (%v), want %d", enc, n, err, bombSize)
		}
	}
	for _, enc := range []string{"gzip", "deflate", "deflate-raw", "br", "zstd", "zstd-declared"} {
		t.Run(enc, func(t *testing.T) {
			body := bombs[enc]
			if len(body) > 4<<20 {
				t.Fatalf("bomb of %d bytes is too large for the test", len(body))
			}
			lim := BodyLimits{Compressed: 4 << 20, Decompressed: bombLimit}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			r := httptest.NewRequest(http.MethodPost, "/api/1/envelope/", bytes.NewReader(body))
			r.Header.Set("Content-Encoding", wireName(strings.TrimSuffix(enc, "-declared")))
			_, err := ReadBody(r, lim)
			runtime.ReadMemStats(&after)
			wantError(t, err, 413, "decompressed_too_large")
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%s bomb: %d bytes inflating to %d; %d bytes allocated", enc, len(body), bombSize, alloc)
			if alloc > bombSize/8 {
				t.Errorf("allocated %d bytes for a bomb of %d (limit %d): the cut-off is not bounded", alloc, bombSize, bombLimit)
			}
		})
	}
}

// FuzzDecompress: every encoding round-trips what it compressed, and
// arbitrary bytes under any encoding give output within the limit or a
// 400, 413 or 415, never a panic.
func FuzzDecompress(f *testing.F) {
	for i, enc := range encodings {
		f.Add(uint8(i), false, []byte("{}\n{\"type\":\"event\"}\n{}\n"))
		f.Add(uint8(i), true, compress(f, enc, []byte("{}\n{\"type\":\"event\"}\n{\"message\":\"hello hello hello\"}\n")))
	}
	f.Add(uint8(0), true, []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	f.Add(uint8(1), true, []byte{0x78, 0x9c})
	const limit = 64 << 10
	f.Fuzz(func(t *testing.T, which uint8, raw bool, data []byte) {
		enc := encodings[int(which)%len(encodings)]
		if raw {
			out, err := Decompress(wireName(enc), data, limit)
			if err != nil {
				var ee *envelope.Error
				if !errors.As(err, &ee) || (ee.Status != 400 && ee.Status != 413) {
					t.Fatalf("Decompress error %#v is not a 400 or 413 *envelope.Error", err)
				}
				return
			}
			if out.Len() > limit {
				t.Fatalf("Decompress gave %d bytes over the limit of %d", out.Len(), limit)
			}
			return
		}
		if len(data) > limit {
			return
		}
		out, err := Decompress(wireName(enc), compress(t, enc, data), limit)
		if err != nil {
			t.Fatalf("Decompress of %s-compressed input: %v", enc, err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("%s round trip changed the input", enc)
		}
		putBuf(out)
	})
}

// TestDeflateRawOrZlib: "deflate" bodies are told apart as zlib or raw
// deflate at every compression level, stored blocks included.
func TestDeflateRawOrZlib(t *testing.T) {
	payload := sdkPayloads(t)["go-transaction"]
	for level := flate.HuffmanOnly; level <= flate.BestCompression; level++ {
		var raw, z bytes.Buffer
		fw, err := flate.NewWriter(&raw, level)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(payload)
		fw.Close()
		zw, err := zlib.NewWriterLevel(&z, level)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(payload)
		zw.Close()
		for name, body := range map[string][]byte{"raw": raw.Bytes(), "zlib": z.Bytes()} {
			out, err := Decompress("deflate", body, DefaultBodyLimits.Decompressed)
			if err != nil {
				t.Errorf("level %d %s: Decompress: %v", level, name, err)
			} else if !bytes.Equal(out.Bytes(), payload) {
				t.Errorf("level %d %s: Decompress gave %d bytes, want the %d sent", level, name, out.Len(), len(payload))
			}
		}
	}
}
