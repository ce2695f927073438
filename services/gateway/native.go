package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/minidump"
	"github.com/faultline/faultline/libs/unreal"
)

// The attachment types of native crashes, as Sentry names them.
const (
	attachmentMinidump      = "event.minidump"
	attachmentPlain         = "event.attachment"
	attachmentUnrealContext = "unreal.context"
	attachmentUnrealLogs    = "unreal.logs"
)

// maxFormParts bounds the parts of a minidump upload.
const maxFormParts = 100

// attachment is one file an upload brings beside its event.
type attachment struct {
	name, typ, contentType string
	data                   []byte
}

// wrapMinidump turns a minidump upload (Breakpad's and Crashpad's
// multipart/form-data: the dump in upload_file_minidump, possibly gzipped,
// event fields as a "sentry" JSON field or sentry[key][sub] fields, other
// files as attachments, other fields as extra) into an envelope with a
// native fatal event and the dump as an event.minidump attachment. A body
// that is itself a minidump is taken as the dump.
func wrapMinidump(contentType string, body []byte, lim envelope.Limits) ([]byte, *envelope.Envelope, error) {
	form := &crashForm{base: map[string]any{}, extra: map[string]any{}}
	if bytes.HasPrefix(body, []byte(minidump.Signature)) {
		form.dump = &attachment{name: "minidump.dmp", data: body}
	} else if err := form.read(contentType, body, lim); err != nil {
		return nil, nil, err
	}
	if form.dump == nil {
		return nil, nil, badRequest("missing_minidump", "the upload has no upload_file_minidump file")
	}
	dump, err := gunzipDump(form.dump.data, lim)
	if err != nil {
		return nil, nil, err
	}
	form.dump.data, form.dump.typ, form.dump.contentType = dump, attachmentMinidump, "application/octet-stream"
	d, err := minidump.Parse(dump)
	if err != nil {
		return nil, nil, badRequest("invalid_minidump", "upload_file_minidump is not a valid minidump: "+err.Error())
	}
	ev := form.base
	if len(form.extra) > 0 {
		extra, _ := ev["extra"].(map[string]any)
		if extra == nil {
			extra = map[string]any{}
		}
		for k, v := range form.extra {
			if _, ok := extra[k]; !ok {
				extra[k] = v
			}
		}
		ev["extra"] = extra
	}
	applyMinidump(ev, d)
	return buildNative(ev, append([]attachment{*form.dump}, form.files...), lim)
}

// crashForm is what a minidump upload's form holds.
type crashForm struct {
	base  map[string]any // the event the sentry fields make
	extra map[string]any // other plain fields
	dump  *attachment
	files []attachment
}

func (f *crashForm) read(contentType string, body []byte, lim envelope.Limits) error {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return &envelope.Error{Status: http.StatusUnsupportedMediaType, Reason: "invalid_content_type",
			Detail: "a minidump upload must be multipart/form-data with the dump in upload_file_minidump"}
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for n := 0; ; n++ {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return badRequest("invalid_multipart", "reading the form: "+err.Error())
		}
		if n == maxFormParts {
			return badRequest("invalid_multipart", "the form has more than "+strconv.Itoa(maxFormParts)+" parts")
		}
		// The body is already bounded; a part cannot be larger.
		data, err := io.ReadAll(p)
		if err != nil {
			return badRequest("invalid_multipart", "reading the form: "+err.Error())
		}
		name, file := p.FormName(), p.FileName()
		switch {
		case name == "upload_file_minidump":
			if f.dump != nil {
				return badRequest("invalid_multipart", "the form has more than one upload_file_minidump")
			}
			if file == "" {
				file = "minidump.dmp"
			}
			f.dump = &attachment{name: file, data: data}
		case name == "sentry":
			var ev map[string]any
			if err := json.Unmarshal(data, &ev); err != nil || ev == nil {
				return badRequest("invalid_json", "the sentry field is not a JSON object")
			}
			for k, v := range ev {
				f.base[k] = v
			}
		case strings.HasPrefix(name, "sentry["):
			path, ok := bracketPath(name[len("sentry"):])
			if !ok {
				return badRequest("invalid_multipart", "form field "+strconv.Quote(truncate(name, 64))+" is not sentry[key][…]")
			}
			setPath(f.base, path, string(data))
		case file != "":
			ct := p.Header.Get("Content-Type")
			if ct == "" {
				ct = "application/octet-stream"
			}
			f.files = append(f.files, attachment{name: file, typ: attachmentPlain, contentType: ct, data: data})
		case name != "":
			f.extra[name] = truncate(string(data), 8192)
		}
	}
}

// bracketPath splits "[a][b]" into a, b.
func bracketPath(s string) ([]string, bool) {
	var path []string
	for s != "" {
		end := strings.IndexByte(s, ']')
		if s[0] != '[' || end < 2 || len(path) == 8 {
			return nil, false
		}
		path = append(path, s[1:end])
		s = s[end+1:]
	}
	return path, len(path) > 0
}

// setPath sets m[path[0]][path[1]]… = v, making objects on the way and
// replacing what is not one.
func setPath(m map[string]any, path []string, v string) {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

// gunzipDump undoes the gzip a dump may have been uploaded with.
func gunzipDump(b []byte, lim envelope.Limits) ([]byte, error) {
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return b, nil
	}
	out, err := Decompress("gzip", b, int64(lim.MaxAttachment))
	if err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// applyMinidump sets what the dump tells on the event: a native fatal
// crash whose exception is the dump's, on the crashing thread, with the
// dump's OS and CPU and its modules as debug images. What the uploader sent
// for these is replaced; its other fields are kept.
func applyMinidump(ev map[string]any, d *minidump.Dump) {
	ev["platform"] = "native"
	ev["level"] = "fatal"
	if _, ok := ev["timestamp"]; !ok && d.Timestamp > 0 {
		ev["timestamp"] = time.Unix(int64(d.Timestamp), 0).UTC().Format(time.RFC3339)
	}
	contexts, _ := ev["contexts"].(map[string]any)
	if contexts == nil {
		contexts = map[string]any{}
	}
	osName := ""
	if s := d.System; s != nil {
		osName = s.OS
		osCtx := map[string]any{"type": "os", "name": s.OS, "version": s.OSVersion}
		if s.OSBuild != "" {
			osCtx["build"] = s.OSBuild
		}
		contexts["os"] = osCtx
		device, _ := contexts["device"].(map[string]any)
		if device == nil {
			device = map[string]any{"type": "device"}
		}
		device["arch"] = s.Arch
		if s.CPUCount > 0 {
			device["processor_count"] = s.CPUCount
		}
		contexts["device"] = device
	}
	ev["contexts"] = contexts

	exc := map[string]any{"mechanism": map[string]any{"type": "minidump", "handled": false, "synthetic": true}}
	if e := d.Exception; e != nil {
		name := minidump.CrashName(osName, e.Code)
		if name == "" {
			name = fmt.Sprintf("0x%08x", e.Code)
		}
		exc["type"] = name
		exc["value"] = "Fatal Error: " + name
		exc["thread_id"] = e.ThreadID
		exc["mechanism"].(map[string]any)["data"] = map[string]any{
			"code": fmt.Sprintf("0x%08x", e.Code), "address": fmt.Sprintf("0x%x", e.Address)}
	} else {
		exc["type"] = "Minidump"
		exc["value"] = "Fatal Error: a crash without an exception record"
	}
	ev["exception"] = map[string]any{"values": []any{exc}}

	if len(d.Threads) > 0 {
		threads := make([]any, 0, len(d.Threads))
		for _, t := range d.Threads {
			threads = append(threads, map[string]any{"id": t.ID, "crashed": d.Exception != nil && t.ID == d.Exception.ThreadID})
		}
		ev["threads"] = map[string]any{"values": threads}
	}
	if len(d.Modules) > 0 {
		images := make([]any, 0, len(d.Modules))
		for _, m := range d.Modules {
			img := map[string]any{"type": m.Kind, "code_file": m.Name, "image_addr": fmt.Sprintf("0x%x", m.Base),
				"image_size": m.Size}
			if img["type"] == "" {
				img["type"] = "native"
			}
			for k, v := range map[string]string{"debug_id": m.DebugID, "debug_file": m.DebugFile, "code_id": m.CodeID} {
				if v != "" {
					img[k] = v
				}
			}
			images = append(images, img)
		}
		ev["debug_meta"] = map[string]any{"images": images}
	}
}

// buildNative writes an envelope with the event and its attachments, and
// parses it back under the limits every envelope meets.
func buildNative(ev map[string]any, files []attachment, lim envelope.Limits) ([]byte, *envelope.Envelope, error) {
	id := ""
	if s, ok := ev["event_id"].(string); ok && s != "" {
		if id = envelope.NormalizeEventID(s); id == "" {
			return nil, nil, badRequest("invalid_event_id", "event_id "+strconv.Quote(truncate(s, 64))+" is not a UUID")
		}
	} else {
		id = newEventID()
	}
	ev["event_id"] = id
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, nil, badRequest("invalid_json", "the event fields make no JSON: "+err.Error())
	}
	if len(payload) > lim.MaxEvent {
		return nil, nil, &envelope.Error{Status: http.StatusRequestEntityTooLarge, Reason: "item_too_large",
			Detail: "the crash's event of " + strconv.Itoa(len(payload)) + " bytes exceeds the limit of " + strconv.Itoa(lim.MaxEvent)}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"event_id":%q}`+"\n", id)
	ih, _ := json.Marshal(map[string]any{"type": "event", "length": len(payload)})
	b.Write(ih)
	b.WriteByte('\n')
	b.Write(payload)
	b.WriteByte('\n')
	for _, f := range files {
		ih, _ := json.Marshal(map[string]any{"type": "attachment", "length": len(f.data), "filename": f.name,
			"attachment_type": f.typ, "content_type": f.contentType})
		b.Write(ih)
		b.WriteByte('\n')
		b.Write(f.data)
		b.WriteByte('\n')
	}
	out := b.Bytes()
	env, err := envelope.Parse(out, lim)
	if err != nil {
		return nil, nil, err
	}
	return out, env, nil
}

func badRequest(reason, detail string) error {
	return &envelope.Error{Status: http.StatusBadRequest, Reason: reason, Detail: detail}
}

// wrapUnreal turns an Unreal Engine Crash Report Client upload, a
// zlib-compressed crash archive, into an envelope: an event made from
// CrashContext.runtime-xml (and from the minidump inside, through the same
// reader as the minidump endpoint), with the dump as an event.minidump
// attachment, the context as unreal.context, the logs as unreal.logs and
// other files as plain attachments.
func wrapUnreal(body []byte, lim envelope.Limits) ([]byte, *envelope.Envelope, error) {
	a, err := unreal.Parse(body, int64(lim.MaxAttachments))
	if errors.Is(err, unreal.ErrTooLarge) {
		return nil, nil, tooLarge("decompressed_too_large", "the crash report decompresses past %d bytes", lim.MaxAttachments)
	}
	if err != nil {
		return nil, nil, badRequest("invalid_unreal_report", err.Error())
	}
	ev := map[string]any{}
	var files []attachment
	var dump *minidump.Dump
	for _, f := range a.Files {
		att := attachment{name: f.Name, typ: attachmentPlain, contentType: "application/octet-stream", data: f.Data}
		lower := strings.ToLower(f.Name)
		switch {
		case strings.EqualFold(f.Name, unreal.ContextFile):
			att.typ, att.contentType = attachmentUnrealContext, "application/xml"
			c, err := unreal.ParseContext(f.Data)
			if err != nil {
				return nil, nil, badRequest("invalid_unreal_context", err.Error())
			}
			applyUnrealContext(ev, c)
		case strings.HasSuffix(lower, ".dmp") && dump == nil:
			if dump, err = minidump.Parse(f.Data); err != nil {
				return nil, nil, badRequest("invalid_minidump", f.Name+" is not a valid minidump: "+err.Error())
			}
			att.typ = attachmentMinidump
		case strings.HasSuffix(lower, ".log"):
			att.typ, att.contentType = attachmentUnrealLogs, "text/plain"
		}
		files = append(files, att)
	}
	if dump != nil {
		message := ev["message"]
		applyMinidump(ev, dump)
		if message != nil {
			ev["message"] = message
		}
		ev["exception"].(map[string]any)["values"].([]any)[0].(map[string]any)["mechanism"].(map[string]any)["type"] = "unreal"
	} else {
		msg, _ := ev["message"].(string)
		if msg == "" {
			msg = "Unreal Engine crash"
		}
		tags, _ := ev["tags"].(map[string]any)
		kind, _ := tags["crash_type"].(string)
		if kind == "" {
			kind = "Crash"
		}
		ev["platform"], ev["level"] = "native", "fatal"
		ev["exception"] = map[string]any{"values": []any{map[string]any{"type": kind, "value": msg,
			"mechanism": map[string]any{"type": "unreal", "handled": false}}}}
	}
	return buildNative(ev, files, lim)
}

// applyUnrealContext sets the event's message, user, release, tags and
// contexts from an Unreal crash context.
func applyUnrealContext(ev map[string]any, c *unreal.Context) {
	if m := c.Get("ErrorMessage"); m != "" {
		ev["message"] = m
	}
	user := map[string]any{}
	if v := c.Get("LoginId"); v != "" {
		user["id"] = v
	}
	if v := c.Get("UserName"); v != "" {
		user["username"] = v
	}
	if v := c.Get("EpicAccountId"); v != "" {
		user["data"] = map[string]any{"epic_account_id": v}
	}
	if len(user) > 0 {
		ev["user"] = user
	}
	if v := c.Get("BuildVersion"); v != "" {
		ev["release"] = v
	}
	tags := map[string]any{}
	for tag, prop := range map[string]string{"game_name": "GameName", "engine_version": "EngineVersion",
		"crash_type": "CrashType", "build_configuration": "BuildConfiguration", "platform_name": "PlatformName"} {
		if v := c.Get(prop); v != "" {
			tags[tag] = truncate(v, 200)
		}
	}
	ev["tags"] = tags
	props := map[string]any{}
	for _, p := range c.Runtime {
		if p.Value != "" && len(props) < 200 {
			props[p.Name] = truncate(p.Value, 8192)
		}
	}
	contexts := map[string]any{"unreal": props}
	if v := c.Get("Misc.OSVersionMajor"); v != "" {
		contexts["os"] = map[string]any{"type": "os", "name": v}
	}
	device := map[string]any{"type": "device"}
	if v := c.Get("Misc.CPUBrand"); v != "" {
		device["cpu_description"] = v
	}
	if v, err := strconv.Atoi(c.Get("Misc.NumberOfCores")); err == nil {
		device["processor_count"] = v
	}
	if v, err := strconv.ParseInt(c.Get("MemoryStats.TotalPhysical"), 10, 64); err == nil {
		device["memory_size"] = v
	}
	contexts["device"] = device
	if v := c.Get("Misc.PrimaryGPUBrand"); v != "" {
		contexts["gpu"] = map[string]any{"type": "gpu", "name": v}
	}
	ev["contexts"] = contexts
}
