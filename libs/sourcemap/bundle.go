package sourcemap

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// An artifact bundle is what sentry-cli uploads: a zip archive with a
// manifest.json that lists its files, each with the URL it is served at,
// its type and headers (debug-id, Sourcemap).

// File types in a bundle's manifest.
const (
	TypeMinifiedSource = "minified_source"
	TypeSourceMap      = "source_map"
	TypeSource         = "source"
	TypeIndexedRAM     = "indexed_ram_bundle"
)

// BundleLimits bound what OpenBundle and ReadFile accept.
type BundleLimits struct {
	MaxFiles        int   // entries in the manifest
	MaxFileBytes    int64 // one file, decompressed
	MaxManifestSize int64
}

// DefaultBundleLimits are generous for real bundles and small enough that
// a hostile zip cannot exhaust memory.
var DefaultBundleLimits = BundleLimits{MaxFiles: 20000, MaxFileBytes: 256 << 20, MaxManifestSize: 32 << 20}

// Bundle is an opened artifact bundle.
type Bundle struct {
	Org     string
	Project string
	Release string
	Dist    string
	DebugID string // the bundle's own id, when the manifest has one
	Files   []BundleFile

	zr  *zip.Reader
	lim BundleLimits
}

// BundleFile is one file the manifest lists.
type BundleFile struct {
	Path      string // its name in the zip
	URL       string // "~/static/app.min.js", "https://example.com/app.js"
	Type      string // TypeMinifiedSource, TypeSourceMap, ...
	DebugID   string // normalized (lower-case, dashed) or ""
	SourceMap string // the Sourcemap (or X-SourceMap) header: the map a minified file refers to

	zf *zip.File
}

type rawManifest struct {
	Org     string `json:"org"`
	Project string `json:"project"`
	Release string `json:"release"`
	Dist    string `json:"dist"`
	DebugID string `json:"debug_id"`
	Files   map[string]struct {
		URL     string            `json:"url"`
		Type    string            `json:"type"`
		Headers map[string]string `json:"headers"`
	} `json:"files"`
}

// ErrBundle wraps every error about a bundle's content.
var ErrBundle = errors.New("bad artifact bundle")

func bundleErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBundle, fmt.Sprintf(format, args...))
}

// OpenBundle reads an artifact bundle's manifest. Files are read one at a
// time with ReadFile.
func OpenBundle(r io.ReaderAt, size int64, lim BundleLimits) (*Bundle, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, bundleErr("not a zip archive: %v", err)
	}
	byName := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		byName[f.Name] = f
	}
	mf, ok := byName["manifest.json"]
	if !ok {
		return nil, bundleErr("no manifest.json")
	}
	b := &Bundle{zr: zr, lim: lim}
	raw, err := readZipFile(mf, lim.MaxManifestSize)
	if err != nil {
		return nil, err
	}
	var m rawManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, bundleErr("manifest.json: %v", err)
	}
	if len(m.Files) > lim.MaxFiles {
		return nil, bundleErr("manifest lists %d files (at most %d)", len(m.Files), lim.MaxFiles)
	}
	b.Org, b.Project, b.Release, b.Dist, b.DebugID = m.Org, m.Project, m.Release, m.Dist, NormalizeDebugID(m.DebugID)
	for path, f := range m.Files {
		zf, ok := byName[path]
		if !ok {
			return nil, bundleErr("manifest lists %q, which the archive does not hold", path)
		}
		bf := BundleFile{Path: path, URL: f.URL, Type: f.Type, zf: zf}
		for k, v := range f.Headers {
			switch strings.ToLower(k) {
			case "debug-id":
				bf.DebugID = NormalizeDebugID(v)
			case "sourcemap", "x-sourcemap":
				bf.SourceMap = v
			}
		}
		b.Files = append(b.Files, bf)
	}
	sort.Slice(b.Files, func(i, j int) bool { return b.Files[i].Path < b.Files[j].Path })
	return b, nil
}

// ReadFile reads one of the bundle's files, decompressed.
func (b *Bundle) ReadFile(f BundleFile) ([]byte, error) {
	return readZipFile(f.zf, b.lim.MaxFileBytes)
}

func readZipFile(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, bundleErr("%s is %d bytes (at most %d)", f.Name, f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, bundleErr("%s: %v", f.Name, err)
	}
	defer rc.Close()
	// The size in the zip's directory is a claim: read at most limit+1.
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, bundleErr("%s: %v", f.Name, err)
	}
	if int64(len(data)) > limit {
		return nil, bundleErr("%s is over %d bytes", f.Name, limit)
	}
	return data, nil
}

// NormalizeDebugID is a debug id in its canonical form, 32 lower-case hex
// digits as a dashed UUID ("c941e2e2-…"), or "" if s is not one. An
// appended age ("…-1") is dropped.
func NormalizeDebugID(s string) string {
	h := make([]byte, 0, 32)
	for i := 0; i < len(s) && len(h) < 32; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			h = append(h, c)
		case c >= 'A' && c <= 'F':
			h = append(h, c+'a'-'A')
		case c == '-':
		default:
			return ""
		}
	}
	if len(h) != 32 {
		return ""
	}
	return string(h[0:8]) + "-" + string(h[8:12]) + "-" + string(h[12:16]) + "-" + string(h[16:20]) + "-" + string(h[20:32])
}
