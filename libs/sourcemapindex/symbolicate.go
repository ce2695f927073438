package sourcemapindex

import (
	"context"
	"errors"
	"strings"

	"github.com/faultline/faultline/libs/event"
	"github.com/faultline/faultline/libs/sourcemap"
)

// contextLines is how many lines of source are shown before and after a
// symbolicated frame's line.
const contextLines = 5

// Symbolicate maps the minified JavaScript frames of e's exceptions to their
// original sources with the uploaded maps, and keeps the frames as sent as
// each exception's RawStacktrace. It returns how many frames it mapped. An
// error (the index or the object store unreachable) leaves the frames it
// could not map as they were; e is always usable.
func (ix *Index) Symbolicate(ctx context.Context, e *event.Event) (int, error) {
	if !isJavaScript(e) {
		return 0, nil
	}
	debugIDs := map[string]string{}
	if e.DebugMeta != nil {
		for _, im := range e.DebugMeta.Images {
			if im.Type == "sourcemap" && im.CodeFile != "" {
				if id := sourcemap.NormalizeDebugID(im.DebugID); id != "" {
					debugIDs[im.CodeFile] = id
				}
			}
		}
	}
	if len(debugIDs) == 0 && e.Release == "" {
		return 0, nil // nothing to find a map by
	}
	mapped := 0
	var errs []error
	for i := range e.Exceptions {
		ex := &e.Exceptions[i]
		if ex.Stacktrace == nil || ex.RawStacktrace != nil {
			continue
		}
		frames, n, err := ix.frames(ctx, e, debugIDs, ex.Stacktrace.Frames)
		if err != nil {
			errs = append(errs, err)
		}
		if n > 0 {
			ex.RawStacktrace = ex.Stacktrace
			ex.Stacktrace = &event.Stacktrace{Frames: frames}
			mapped += n
		}
	}
	return mapped, errors.Join(errs...)
}

func isJavaScript(e *event.Event) bool {
	switch e.Platform {
	case "javascript", "node":
		return true
	}
	return false
}

// frames symbolicates a stack trace's frames (oldest first) into new ones.
func (ix *Index) frames(ctx context.Context, e *event.Event, debugIDs map[string]string, in []event.Frame) ([]event.Frame, int, error) {
	out := make([]event.Frame, len(in))
	copy(out, in)
	tokens := make([]*sourcemap.Token, len(in))
	n := 0
	var firstErr error
	for i := range in {
		f := &in[i]
		file := f.AbsPath
		if file == "" {
			file = f.Filename // @sentry/node sends the absolute path as filename only
		}
		if file == "" || f.Lineno <= 0 || f.Colno <= 0 || f.Platform != "" && f.Platform != "javascript" && f.Platform != "node" {
			continue
		}
		m, mapURL, err := ix.Find(ctx, Frame{ProjectID: e.ProjectID, DebugID: debugIDs[file],
			Release: e.Release, Dist: e.Dist, AbsPath: file})
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if m == nil {
			continue
		}
		tok, ok := m.Lookup(int(f.Lineno), int(f.Colno))
		if !ok {
			continue
		}
		tokens[i] = &tok
		out[i] = mapFrame(*f, tok, mapURL)
		n++
	}
	// A frame's function is the function its original position is in;
	// failing that, the name the caller's call site carries (the frame
	// before it is its caller), as Sentry reads it.
	for i := range out {
		if tokens[i] == nil {
			continue
		}
		fn := tokens[i].EnclosingFunction()
		if fn == "" && i > 0 && tokens[i-1] != nil {
			fn = tokens[i-1].Name
		}
		if fn != "" {
			out[i].Function = fn
		}
	}
	return out, n, firstErr
}

// mapFrame is f moved to its original position.
func mapFrame(f event.Frame, tok sourcemap.Token, mapURL string) event.Frame {
	nf := f
	nf.AbsPath = resolveURL(mapURL, tok.Source)
	nf.Filename = displayPath(tok.Source)
	nf.Lineno, nf.Colno = int64(tok.Line), int64(tok.Column)
	nf.Module = ""
	if pre, line, post, ok := tok.Context(contextLines); ok {
		nf.PreContext, nf.ContextLine, nf.PostContext = clipLines(pre), clipLine(line), clipLines(post)
	} else {
		nf.PreContext, nf.ContextLine, nf.PostContext = nil, "", nil
	}
	inApp := !sourcemap.IsVendor(tok.Source)
	nf.InApp = &inApp
	return nf
}

// displayPath is a source's path as Sentry shows it: without a bundler's
// scheme ("webpack://app/") and leading "./" or "../".
func displayPath(src string) string {
	if i := strings.Index(src, "://"); i >= 0 {
		src = src[i+3:] // "webpack://app/src/a.js": drop the namespace too
		if j := strings.IndexByte(src, '/'); j >= 0 {
			src = src[j+1:]
		}
	}
	for {
		switch {
		case strings.HasPrefix(src, "./"):
			src = src[2:]
		case strings.HasPrefix(src, "../"):
			src = src[3:]
		case strings.HasPrefix(src, "/"):
			src = src[1:]
		default:
			return src
		}
	}
}

const maxContextLine = 1024

func clipLine(s string) string {
	if len(s) > maxContextLine {
		return s[:maxContextLine]
	}
	return s
}

func clipLines(l []string) []string {
	for i, s := range l {
		l[i] = clipLine(s)
	}
	return l
}
