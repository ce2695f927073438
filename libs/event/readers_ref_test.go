package event

import (
	"bytes"
	"encoding/json"
	"strings"
)

// The readers as they were before they decoded lists in place: each element
// cut out of its list and decoded on its own. FuzzReadersMatchReference
// holds the in-place readers to the same results.

func readStacktraceReference(b json.RawMessage) *Stacktrace {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	var r struct {
		Frames []json.RawMessage `json:"frames"`
	}
	if lenient(b, &r) != nil {
		return nil
	}
	st := &Stacktrace{Frames: make([]Frame, 0, min(len(r.Frames), maxFrames))}
	if len(r.Frames) > maxFrames {
		// Keep both ends: where it started and, mostly, where it failed.
		r.Frames = append(r.Frames[:maxFramesHead:maxFramesHead], r.Frames[len(r.Frames)-(maxFrames-maxFramesHead):]...)
	}
	for _, fb := range r.Frames {
		var rf rawFrame
		if fb = bytes.TrimSpace(fb); len(fb) == 0 || fb[0] != '{' || lenient(fb, &rf) != nil {
			continue
		}
		f := Frame{
			Function:        truncate(string(rf.Function), maxPath),
			RawFunction:     truncate(string(rf.RawFunction), maxPath),
			Symbol:          truncate(string(rf.Symbol), maxPath),
			Module:          truncate(string(rf.Module), maxPath),
			Package:         truncate(string(rf.Package), maxPath),
			Filename:        truncate(string(rf.Filename), maxPath),
			AbsPath:         truncate(string(rf.AbsPath), maxPath),
			ContextLine:     truncate(string(rf.ContextLine), maxContextLine),
			PreContext:      contextLines(rf.PreContext, true),
			PostContext:     contextLines(rf.PostContext, false),
			InApp:           rf.InApp.ptr(),
			Platform:        platformOrEmpty(string(rf.Platform)),
			InstructionAddr: truncate(string(rf.InstructionAddr), 64),
			Vars:            databags(rf.Vars),
		}
		if rf.Lineno.Valid && rf.Lineno.V > 0 {
			f.Lineno = rf.Lineno.V
		}
		if rf.Colno.Valid && rf.Colno.V > 0 {
			f.Colno = rf.Colno.V
		}
		if f.Filename == "" && f.AbsPath != "" {
			f.Filename = filenameOf(f.AbsPath)
		}
		st.Frames = append(st.Frames, f)
	}
	return st
}

func readBreadcrumbsReference(b json.RawMessage) []Breadcrumb {
	list := values(b)
	if len(list) > maxBreadcrumbs {
		list = list[len(list)-maxBreadcrumbs:] // the newest
	}
	var out []Breadcrumb
	for _, item := range list {
		var r struct {
			Timestamp flexTime                   `json:"timestamp"`
			Type      flexString                 `json:"type"`
			Category  flexString                 `json:"category"`
			Level     flexString                 `json:"level"`
			Message   flexString                 `json:"message"`
			Data      map[string]json.RawMessage `json:"data"`
		}
		if item = bytes.TrimSpace(item); len(item) == 0 || item[0] != '{' || lenient(item, &r) != nil {
			continue
		}
		bc := Breadcrumb{Timestamp: r.Timestamp.T, Type: truncate(string(r.Type), maxShort),
			Category: truncate(string(r.Category), maxShort), Message: truncate(string(r.Message), maxMessage),
			Data: databags(r.Data)}
		if r.Level != "" {
			bc.Level = level(string(r.Level))
		}
		out = append(out, bc)
	}
	return out
}

func readExceptionsReference(b json.RawMessage) []Exception {
	var out []Exception
	for _, item := range values(b) {
		var r struct {
			Type       flexString      `json:"type"`
			Value      json.RawMessage `json:"value"`
			Module     flexString      `json:"module"`
			ThreadID   flexString      `json:"thread_id"`
			Mechanism  *rawMechanism   `json:"mechanism"`
			Stacktrace json.RawMessage `json:"stacktrace"`
		}
		if lenient(item, &r) != nil {
			continue
		}
		ex := Exception{
			Type:     truncate(strings.TrimSpace(string(r.Type)), maxShort),
			Value:    truncate(anyText(r.Value), maxMessage),
			Module:   truncate(string(r.Module), maxPath),
			ThreadID: truncate(string(r.ThreadID), maxShort),
		}
		if ex.Type == "" {
			// "ValueError: bad input" sent as the value alone.
			if m := typeValueRE.FindStringSubmatch(ex.Value); m != nil {
				ex.Type, ex.Value = m[1], m[2]
			}
		}
		if m := r.Mechanism; m != nil {
			ex.Mechanism = &Mechanism{
				Type:             truncate(string(m.Type), maxShort),
				Description:      truncate(string(m.Description), maxMessage),
				Handled:          m.Handled.ptr(),
				Synthetic:        m.Synthetic.V,
				IsExceptionGroup: m.IsExceptionGroup.V,
				Source:           truncate(string(m.Source), maxShort),
				Data:             databags(m.Data),
			}
			if m.ExceptionID.Valid {
				ex.Mechanism.ExceptionID = &m.ExceptionID.V
			}
			if m.ParentID.Valid {
				ex.Mechanism.ParentID = &m.ParentID.V
			}
		}
		if st := readStacktraceReference(r.Stacktrace); st != nil && len(st.Frames) > 0 {
			ex.Stacktrace = st
		}
		if ex.Type == "" && ex.Value == "" && ex.Stacktrace == nil {
			continue
		}
		out = append(out, ex)
	}
	if len(out) > maxExceptions {
		// Keep the outermost ones: they name the event.
		out = out[len(out)-maxExceptions:]
	}
	return out
}

func readThreadsReference(b json.RawMessage) []Thread {
	var out []Thread
	for _, item := range values(b) {
		var r struct {
			ID         flexString      `json:"id"`
			Name       flexString      `json:"name"`
			Crashed    flexBool        `json:"crashed"`
			Current    flexBool        `json:"current"`
			Main       flexBool        `json:"main"`
			Stacktrace json.RawMessage `json:"stacktrace"`
		}
		if lenient(item, &r) != nil {
			continue
		}
		t := Thread{ID: truncate(string(r.ID), maxShort), Name: truncate(string(r.Name), maxShort),
			Crashed: r.Crashed.V, Current: r.Current.V, Main: r.Main.V}
		if st := readStacktraceReference(r.Stacktrace); st != nil && len(st.Frames) > 0 {
			t.Stacktrace = st
		}
		out = append(out, t)
		if len(out) == maxThreads {
			break
		}
	}
	return out
}
