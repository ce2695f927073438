package unreal_test

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"testing"
	"unicode/utf16"

	"github.com/faultline/faultline/libs/unreal"
	"github.com/faultline/faultline/libs/unreal/unrealtest"
)

func TestParse(t *testing.T) {
	ctx := unrealtest.Context("Access violation - code c0000005", "UE4CC-Windows-1234", "jane", "4f3e2d1c", "4.27.2-18319896+++UE4+Release-4.27")
	body := unrealtest.Report("UE4CC-Windows-1234",
		unrealtest.File{Name: "CrashContext.runtime-xml", Data: ctx},
		unrealtest.File{Name: "UE4Minidump.dmp", Data: []byte("MDMP-not-really")},
		unrealtest.File{Name: "Crashy.log", Data: []byte("LogWindows: Error: crash\n")})
	a, err := unreal.Parse(body, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if a.Directory != "UE4CC-Windows-1234" || len(a.Files) != 3 {
		t.Fatalf("archive %q with %d files, want UE4CC-Windows-1234 with 3", a.Directory, len(a.Files))
	}
	if f := a.File(".dmp"); f == nil || f.Name != "UE4Minidump.dmp" || string(f.Data) != "MDMP-not-really" || f.Index != 1 {
		t.Errorf("File(.dmp) = %+v", f)
	}
	c, err := unreal.ParseContext(a.File(unreal.ContextFile).Data)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"ErrorMessage": "Access violation - code c0000005", "UserName": "jane",
		"LoginId": "4f3e2d1c", "CrashGUID": "UE4CC-Windows-1234", "Misc.CPUBrand": "AMD Ryzen 7 5800X 8-Core Processor", "EpicAccountId": ""} {
		if got := c.Get(name); got != want {
			t.Errorf("Get(%q) = %q, want %q", name, got, want)
		}
	}
	if len(c.Platform) != 2 || c.Platform[0].Name != "PlatformIsRunningWindows" {
		t.Errorf("Platform = %+v", c.Platform)
	}
}

// TestParseContextUTF16: the engine may write the context in UTF-16 with a
// byte-order mark.
func TestParseContextUTF16(t *testing.T) {
	text := bytes.Replace(unrealtest.Context("boom ✗", "g", "u", "l", "5.3"), []byte("UTF-8"), []byte("UTF-16"), 1)
	var b bytes.Buffer
	b.Write([]byte{0xff, 0xfe})
	binary.Write(&b, binary.LittleEndian, utf16.Encode([]rune(string(text))))
	c, err := unreal.ParseContext(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Get("ErrorMessage"); got != "boom ✗" {
		t.Errorf("ErrorMessage = %q", got)
	}
}

func TestParseRefuses(t *testing.T) {
	good := unrealtest.Archive("d", unrealtest.File{Name: "a.log", Data: []byte("x")})
	zl := func(b []byte) []byte {
		var out bytes.Buffer
		zw := zlib.NewWriter(&out)
		zw.Write(b)
		zw.Close()
		return out.Bytes()
	}
	manyFiles := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(manyFiles[6+20+4:], 1<<30) // the file count, after "d" and "UE4CC-Windows-d" and the size
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"not zlib", []byte("hello, this is plain text")},
		{"truncated archive", zl(good[:len(good)-1])},
		{"empty archive", zl(nil)},
		{"too many files", zl(manyFiles)},
		{"length past the end", zl(append(good[:len(good)-5], 0xff, 0xff, 0xff, 0x7f, 'x'))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if a, err := unreal.Parse(tc.body, 1<<20); err == nil {
				t.Fatalf("Parse = %+v, want an error", a)
			}
		})
	}
	big := zl(make([]byte, 4096))
	if _, err := unreal.Parse(big, 1000); !errors.Is(err, unreal.ErrTooLarge) {
		t.Errorf("Parse of 4096 bytes with a limit of 1000: %v, want ErrTooLarge", err)
	}
	if _, err := unreal.ParseContext([]byte("<html><body>hi</body></html>")); err == nil {
		t.Error("ParseContext accepted HTML")
	}
}

func FuzzParseArchive(f *testing.F) {
	f.Add(unrealtest.Archive("d", unrealtest.File{Name: "a.log", Data: []byte("x")}, unrealtest.File{Name: "b", Data: nil}))
	f.Add([]byte{0xfe, 0xff, 0xff, 0xff, 'a', 0, 'b', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := unreal.ParseArchive(b)
		if err != nil {
			return
		}
		total := 0
		for _, f := range a.Files {
			total += len(f.Data)
		}
		if total > len(b) || len(a.Files) > unreal.MaxFiles {
			t.Fatalf("%d files of %d bytes from %d bytes", len(a.Files), total, len(b))
		}
	})
}

func FuzzParseContext(f *testing.F) {
	f.Add(unrealtest.Context("m", "g", "u", "l", "v"))
	f.Add([]byte("<FGenericCrashContext><RuntimeProperties><A>1</A></RuntimeProperties></FGenericCrashContext>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		unreal.ParseContext(b)
	})
}
