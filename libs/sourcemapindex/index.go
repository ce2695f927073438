// Package sourcemapindex finds the uploaded source map of a JavaScript
// frame and symbolicates events with it. It reads the sourcemaps role's
// index (schema "sourcemaps", read-only) and the faultline_artifacts object
// store, and keeps parsed maps in a cache bounded in bytes.
//
// A frame's map is found as Sentry finds it: by the debug id that
// debug_meta.images (type "sourcemap") gives for the frame's file, else by
// the event's release and dist and the frame's abs_path, where "~/" in an
// uploaded URL stands for any scheme and host.
package sourcemapindex

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/sourcemap"
	"github.com/faultline/faultline/streams"
)

// Options size the index's caches.
type Options struct {
	CacheBytes  int64         // parsed maps, at most (Map.Size)
	MaxMapBytes int64         // a map larger than this is not fetched
	HitTTL      time.Duration // how long a found map's location is remembered
	MissTTL     time.Duration // how long "no map" is remembered
}

// DefaultOptions keep 128 MiB of parsed maps.
func DefaultOptions() Options {
	return Options{CacheBytes: 128 << 20, MaxMapBytes: 64 << 20, HitTTL: 5 * time.Minute, MissTTL: 30 * time.Second}
}

// Index looks up and caches source maps. It is safe for concurrent use.
type Index struct {
	opt   Options
	pool  *pgxpool.Pool
	store jetstream.ObjectStore
	maps  *sourcemap.Cache

	mu      sync.Mutex
	located map[string]location
}

// location is where a lookup found a map, or that it found none (object "").
type location struct {
	object  string
	url     string // the map's URL, which its sources are relative to
	expires time.Time
}

const maxLocated = 1 << 16

// New opens the index. The streams must have been applied.
func New(ctx context.Context, pool *pgxpool.Pool, js jetstream.JetStream, opt Options) (*Index, error) {
	store, err := js.ObjectStore(ctx, streams.ArtifactsBucket)
	if err != nil {
		return nil, fmt.Errorf("open object store %s: %w", streams.ArtifactsBucket, err)
	}
	return &Index{opt: opt, pool: pool, store: store, maps: sourcemap.NewCache(opt.CacheBytes),
		located: make(map[string]location)}, nil
}

// Cache is the parsed-map cache, for its metrics.
func (ix *Index) Cache() *sourcemap.Cache { return ix.maps }

// Frame names what a map is looked up by.
type Frame struct {
	ProjectID int64
	DebugID   string // from debug_meta, normalized; "" if none
	Release   string
	Dist      string
	AbsPath   string
}

// Find is the map of f's file, and its URL; nil when none was uploaded.
func (ix *Index) Find(ctx context.Context, f Frame) (*sourcemap.Map, string, error) {
	key := fmt.Sprintf("%d\x00%s\x00%s\x00%s\x00%s", f.ProjectID, f.DebugID, f.Release, f.Dist, f.AbsPath)
	now := time.Now()
	ix.mu.Lock()
	loc, ok := ix.located[key]
	ix.mu.Unlock()
	if !ok || now.After(loc.expires) {
		var err error
		if loc, err = ix.locate(ctx, f); err != nil {
			return nil, "", err
		}
		loc.expires = now.Add(ix.opt.MissTTL)
		if loc.object != "" {
			loc.expires = now.Add(ix.opt.HitTTL)
		}
		ix.mu.Lock()
		if len(ix.located) >= maxLocated {
			clear(ix.located)
		}
		ix.located[key] = loc
		ix.mu.Unlock()
	}
	if loc.object == "" {
		return nil, "", nil
	}
	m, err := ix.load(ctx, loc.object)
	return m, loc.url, err
}

// Forget drops what the index remembers of where project's maps are (and
// that some frames had none), so that the next look-ups find the maps
// uploaded, or uploaded again, since: a reprocessing reads events again
// because their maps came after them. Parsed maps stay cached: an object is
// named by its content.
func (ix *Index) Forget(project int64) {
	prefix := fmt.Sprintf("%d\x00", project)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for k := range ix.located {
		if strings.HasPrefix(k, prefix) {
			delete(ix.located, k)
		}
	}
}

// load is the parsed map stored under object, from the cache or the store.
func (ix *Index) load(ctx context.Context, object string) (*sourcemap.Map, error) {
	if m, ok := ix.maps.Get(object); ok {
		return m, nil
	}
	info, err := ix.store.GetInfo(ctx, object)
	if err != nil {
		return nil, fmt.Errorf("source map %s: %w", object, err)
	}
	if int64(info.Size) > ix.opt.MaxMapBytes {
		return nil, fmt.Errorf("source map %s is %d bytes (at most %d)", object, info.Size, ix.opt.MaxMapBytes)
	}
	data, err := ix.store.GetBytes(ctx, object)
	if err != nil {
		return nil, fmt.Errorf("source map %s: %w", object, err)
	}
	m, err := sourcemap.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("source map %s: %w", object, err)
	}
	ix.maps.Add(object, m)
	return m, nil
}

type fileRow struct {
	url, typ, object, sourcemap, debugID string
}

// locate queries the index for f's map.
func (ix *Index) locate(ctx context.Context, f Frame) (location, error) {
	if f.DebugID != "" {
		loc, err := ix.byDebugID(ctx, f.ProjectID, f.DebugID)
		if err != nil || loc.object != "" {
			return loc, err
		}
	}
	if f.Release == "" || f.AbsPath == "" {
		return location{}, nil
	}
	cands := Candidates(f.AbsPath)
	rows, err := ix.files(ctx, `SELECT url, type, object, sourcemap, debug_id FROM sourcemaps.files
		WHERE project_id = $1 AND release = $2 AND dist = $3 AND url = ANY($4) ORDER BY bundle_id DESC`,
		f.ProjectID, f.Release, f.Dist, append(cands, withSuffix(cands, ".map")...))
	if err != nil {
		return location{}, err
	}
	// The most specific candidate first: the minified file, then a map
	// uploaded under its name + ".map".
	for _, c := range cands {
		for _, r := range rows {
			if r.url != c || r.typ == sourcemap.TypeSourceMap {
				continue
			}
			if r.debugID != "" {
				if loc, err := ix.byDebugID(ctx, f.ProjectID, r.debugID); err != nil || loc.object != "" {
					return loc, err
				}
			}
			if r.sourcemap != "" {
				return ix.byURL(ctx, f, resolveURL(r.url, r.sourcemap))
			}
		}
		for _, r := range rows {
			if r.url == c+".map" && r.typ == sourcemap.TypeSourceMap {
				return location{object: r.object, url: r.url}, nil
			}
		}
	}
	return location{}, nil
}

func (ix *Index) byDebugID(ctx context.Context, project int64, id string) (location, error) {
	rows, err := ix.files(ctx, `SELECT url, type, object, sourcemap, debug_id FROM sourcemaps.files
		WHERE project_id = $1 AND debug_id = $2 AND type = 'source_map' ORDER BY bundle_id DESC LIMIT 1`, project, id)
	if err != nil || len(rows) == 0 {
		return location{}, err
	}
	return location{object: rows[0].object, url: rows[0].url}, nil
}

func (ix *Index) byURL(ctx context.Context, f Frame, u string) (location, error) {
	rows, err := ix.files(ctx, `SELECT url, type, object, sourcemap, debug_id FROM sourcemaps.files
		WHERE project_id = $1 AND release = $2 AND dist = $3 AND url = ANY($4) AND type = 'source_map'
		ORDER BY bundle_id DESC LIMIT 1`, f.ProjectID, f.Release, f.Dist, Candidates(u))
	if err != nil || len(rows) == 0 {
		return location{}, err
	}
	return location{object: rows[0].object, url: rows[0].url}, nil
}

func (ix *Index) files(ctx context.Context, sql string, args ...any) ([]fileRow, error) {
	rows, err := ix.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("source map index: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (fileRow, error) {
		var f fileRow
		err := r.Scan(&f.url, &f.typ, &f.object, &f.sourcemap, &f.debugID)
		return f, err
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("source map index: %w", err)
	}
	return out, nil
}

// Candidates are the URLs an uploaded file may have been given for a
// frame's abs_path, most specific first: the URL itself without query or
// fragment, then "~/" with its whole path and with each shorter suffix
// of it ("~/static/js/app.js", "~/js/app.js", "~/app.js"), as sentry-cli's
// default "~/" prefix stands for any scheme and host.
func Candidates(absPath string) []string {
	p := absPath
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	out := []string{p}
	rest := p
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			rest = rest[j:]
		} else {
			rest = "/"
		}
	} else if strings.HasPrefix(rest, "~/") {
		rest = rest[1:]
	}
	rest = strings.TrimLeft(rest, "/")
	for rest != "" && len(out) < 16 {
		if c := "~/" + rest; c != p {
			out = append(out, c)
		}
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			break
		}
		rest = rest[i+1:]
	}
	return out
}

func withSuffix(l []string, suffix string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = s + suffix
	}
	return out
}

// resolveURL resolves ref (a Sourcemap header, a map's source) against
// base, an uploaded file's URL that may start with "~/".
func resolveURL(base, ref string) string {
	if strings.Contains(ref, "://") || strings.HasPrefix(ref, "~/") {
		return ref
	}
	if strings.HasPrefix(base, "~/") {
		if strings.HasPrefix(ref, "/") {
			return "~" + path.Clean(ref)
		}
		return "~" + path.Join(path.Dir(base[1:]), ref)
	}
	b, err := url.Parse(base)
	if err != nil {
		return ref
	}
	r, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return b.ResolveReference(r).String()
}
