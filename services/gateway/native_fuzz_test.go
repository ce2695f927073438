package gateway

import (
	"bytes"
	"mime/multipart"
	"testing"

	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/minidump/minidumptest"
	"github.com/faultline/faultline/libs/unreal/unrealtest"
)

// FuzzWrapMinidump: any form, with any fields beside a dump, is wrapped
// into an envelope that parses with an event first, or refused with a 4xx.
func FuzzWrapMinidump(f *testing.F) {
	dump := minidumptest.Windows().Write()
	form := func(fields ...[2]string) []byte {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.SetBoundary("fuzzboundary")
		for _, fl := range fields {
			if fl[0] == "upload_file_minidump" {
				w, _ := mw.CreateFormFile(fl[0], "a.dmp")
				w.Write([]byte(fl[1]))
			} else {
				mw.WriteField(fl[0], fl[1])
			}
		}
		mw.Close()
		return b.Bytes()
	}
	f.Add(form([2]string{"sentry", `{"release":"1"}`}, [2]string{"upload_file_minidump", string(dump)}))
	f.Add(form([2]string{"sentry[tags][a]", "b"}, [2]string{"sentry[tags]", "c"}, [2]string{"upload_file_minidump", string(dump)}))
	f.Add(form([2]string{"sentry[a][b][c]", "x"}, [2]string{"x", "y"}, [2]string{"upload_file_minidump", "MDMP"}))
	f.Add(dump)
	lim := envelope.DefaultLimits
	lim.MaxEvent = 64 << 10
	f.Fuzz(func(t *testing.T, body []byte) {
		out, env, err := wrapMinidump("multipart/form-data; boundary=fuzzboundary", body, lim)
		if err != nil {
			wrapErrorOK(t, err)
			return
		}
		checkWrapped(t, out, env, lim)
		if env.Items[0].Type != "event" || env.Items[1].AttachmentType != attachmentMinidump {
			t.Fatalf("items %+v, want the event then the minidump", env.Items)
		}
	})
}

// FuzzWrapUnreal: any archive is wrapped into an envelope that parses, or
// refused with a 4xx.
func FuzzWrapUnreal(f *testing.F) {
	f.Add(unrealtest.Report("d",
		unrealtest.File{Name: "CrashContext.runtime-xml", Data: unrealtest.Context("m", "g", "u", "l", "v")},
		unrealtest.File{Name: "UE4Minidump.dmp", Data: minidumptest.Windows().Write()},
		unrealtest.File{Name: "x.log", Data: []byte("log")}))
	f.Add(unrealtest.Report("d"))
	lim := envelope.DefaultLimits
	lim.MaxEvent = 64 << 10
	lim.MaxAttachments = 1 << 20
	f.Fuzz(func(t *testing.T, body []byte) {
		out, env, err := wrapUnreal(body, lim)
		if err != nil {
			wrapErrorOK(t, err)
			return
		}
		checkWrapped(t, out, env, lim)
		if env.Items[0].Type != "event" {
			t.Fatalf("items %+v, want the event first", env.Items)
		}
	})
}

// BenchmarkWrapMinidump: a Crashpad-style form with a small dump and two
// sentry fields, turned into an envelope.
func BenchmarkWrapMinidump(b *testing.B) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("sentry", `{"release":"crashy@1.0.0"}`)
	mw.WriteField("sentry[tags][shard]", "eu-1")
	w, _ := mw.CreateFormFile("upload_file_minidump", "crash.dmp")
	w.Write(minidumptest.Windows().Write())
	mw.Close()
	b.SetBytes(int64(body.Len()))
	for b.Loop() {
		if _, _, err := wrapMinidump(mw.FormDataContentType(), body.Bytes(), envelope.DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWrapUnreal: a crash report with a context, a small dump and a
// log, turned into an envelope.
func BenchmarkWrapUnreal(b *testing.B) {
	body := unrealtest.Report("d",
		unrealtest.File{Name: "CrashContext.runtime-xml", Data: unrealtest.Context("m", "g", "u", "l", "v")},
		unrealtest.File{Name: "UE4Minidump.dmp", Data: minidumptest.Windows().Write()},
		unrealtest.File{Name: "x.log", Data: bytes.Repeat([]byte("LogInit: Display: a line of the log\n"), 100)})
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, err := wrapUnreal(body, envelope.DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
}
