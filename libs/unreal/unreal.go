// Package unreal reads the crash reports Unreal Engine's Crash Report
// Client uploads: a zlib-compressed archive (the "CR1" format) of the
// crash's files — the minidump, the logs and CrashContext.runtime-xml, the
// engine's FGenericCrashContext — and that context's properties. It reads
// untrusted bytes: decompression and every length are bounded.
package unreal

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// MaxFiles bounds the files of one archive.
const MaxFiles = 256

// ErrTooLarge is returned when the archive decompresses past the limit.
var ErrTooLarge = errors.New("unreal crash report decompresses past the limit")

// Archive is a crash report's archive.
type Archive struct {
	Directory        string // the crash's folder name
	Name             string // the crash's file name
	UncompressedSize int32
	Files            []File
}

// File is one file of an archive.
type File struct {
	Index int32
	Name  string
	Data  []byte
}

// ContextFile is the name of the crash context file.
const ContextFile = "CrashContext.runtime-xml"

// File returns the file whose name ends with suffix (case-insensitive),
// or nil.
func (a *Archive) File(suffix string) *File {
	for i := range a.Files {
		if strings.HasSuffix(strings.ToLower(a.Files[i].Name), strings.ToLower(suffix)) {
			return &a.Files[i]
		}
	}
	return nil
}

// Decompress undoes the archive's zlib compression, producing at most
// limit bytes.
func Decompress(b []byte, limit int64) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("unreal crash report is not zlib-compressed: %w", err)
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, fmt.Errorf("unreal crash report: bad zlib stream: %w", err)
	}
	if int64(len(out)) > limit {
		return nil, ErrTooLarge
	}
	return out, nil
}

// Parse reads a compressed crash report, decompressing at most limit
// bytes.
func Parse(b []byte, limit int64) (*Archive, error) {
	raw, err := Decompress(b, limit)
	if err != nil {
		return nil, err
	}
	return ParseArchive(raw)
}

// ParseArchive reads an uncompressed archive: a header (directory name,
// file name, uncompressed size, file count), then each file as its index,
// its name and its bytes, every string and byte array prefixed with its
// little-endian int32 length.
func ParseArchive(b []byte) (*Archive, error) {
	r := &cursor{b: b}
	a := &Archive{}
	a.Directory = r.str()
	a.Name = r.str()
	a.UncompressedSize = r.i32()
	count := r.i32()
	if r.err != nil {
		return nil, fmt.Errorf("unreal crash report header: %w", r.err)
	}
	if count < 0 || count > MaxFiles {
		return nil, fmt.Errorf("unreal crash report declares %d files, want 0 to %d", count, MaxFiles)
	}
	for i := int32(0); i < count; i++ {
		f := File{Index: r.i32(), Name: r.str()}
		f.Data = r.bytes()
		if r.err != nil {
			return nil, fmt.Errorf("unreal crash report file %d: %w", i, r.err)
		}
		a.Files = append(a.Files, f)
	}
	return a, nil
}

// cursor reads an archive's fields; the first error sticks.
type cursor struct {
	b   []byte
	off int
	err error
}

var errTruncated = errors.New("truncated")

func (c *cursor) i32() int32 {
	if c.err != nil {
		return 0
	}
	if len(c.b)-c.off < 4 {
		c.err = errTruncated
		return 0
	}
	v := int32(binary.LittleEndian.Uint32(c.b[c.off:]))
	c.off += 4
	return v
}

func (c *cursor) take(n int) []byte {
	if c.err != nil {
		return nil
	}
	if n < 0 || len(c.b)-c.off < n {
		c.err = errTruncated
		return nil
	}
	out := c.b[c.off : c.off+n : c.off+n]
	c.off += n
	return out
}

func (c *cursor) bytes() []byte { return c.take(int(c.i32())) }

// str reads an FString: a length counting the terminating NUL, then
// single-byte characters, or, when the length is negative, as many UTF-16
// code units.
func (c *cursor) str() string {
	n := int(c.i32())
	if c.err != nil {
		return ""
	}
	if n >= 0 {
		return strings.TrimRight(string(c.take(n)), "\x00")
	}
	if n < -(1 << 20) {
		c.err = fmt.Errorf("string of %d UTF-16 units", -n)
		return ""
	}
	return decodeUTF16(c.take(-2 * n))
}

func decodeUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return strings.TrimRight(string(utf16.Decode(u)), "\x00")
}

// Context is what CrashContext.runtime-xml tells: its RuntimeProperties
// and PlatformProperties, each element's name and text, in order.
type Context struct {
	Runtime  []Property
	Platform []Property
}

// Property is one element of a context section.
type Property struct{ Name, Value string }

// Get returns the runtime property name's value, "" when missing.
func (c *Context) Get(name string) string {
	for _, p := range c.Runtime {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// ParseContext reads a CrashContext.runtime-xml (UTF-8, or UTF-16 with its
// byte-order mark).
func ParseContext(b []byte) (*Context, error) {
	if bytes.HasPrefix(b, []byte{0xff, 0xfe}) {
		b = []byte(decodeUTF16(b[2:]))
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	var doc struct {
		XMLName  xml.Name
		Runtime  section `xml:"RuntimeProperties"`
		Platform section `xml:"PlatformProperties"`
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	// The text is UTF-8 by now, whatever its declaration says.
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	if err := d.Decode(&doc); err != nil {
		return nil, fmt.Errorf("crash context is not XML: %w", err)
	}
	if doc.XMLName.Local != "FGenericCrashContext" {
		return nil, fmt.Errorf("crash context's root is <%s>, want <FGenericCrashContext>", doc.XMLName.Local)
	}
	return &Context{Runtime: doc.Runtime.props(), Platform: doc.Platform.props()}, nil
}

type section struct {
	Items []struct {
		XMLName xml.Name
		Value   string `xml:",chardata"`
	} `xml:",any"`
}

func (s section) props() []Property {
	out := make([]Property, 0, len(s.Items))
	for _, it := range s.Items {
		out = append(out, Property{Name: it.XMLName.Local, Value: strings.TrimSpace(it.Value)})
	}
	return out
}
