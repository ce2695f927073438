package minidump_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/faultline/faultline/libs/minidump"
	"github.com/faultline/faultline/libs/minidump/minidumptest"
)

// TestParseWindows reads a dump laid out as the format describes (the same
// bytes Breakpad's minidump_dump reads as the values below).
func TestParseWindows(t *testing.T) {
	d, err := minidump.Parse(minidumptest.Windows().Write())
	if err != nil {
		t.Fatal(err)
	}
	if d.Timestamp != 1700000000 {
		t.Errorf("Timestamp = %d, want 1700000000", d.Timestamp)
	}
	s := d.System
	if s == nil || s.OS != "Windows" || s.Arch != "amd64" || s.OSVersion != "10.0.19045" || s.OSBuild != "Service Pack 1" || s.CPUCount != 8 {
		t.Errorf("System = %+v, want Windows 10.0.19045 (Service Pack 1) on 8 amd64 CPUs", s)
	}
	e := d.Exception
	if e == nil || e.ThreadID != 7 || e.Code != 0xc0000005 || e.Address != 0x7ff6a1b21234 {
		t.Errorf("Exception = %+v, want code 0xc0000005 at 0x7ff6a1b21234 in thread 7", e)
	}
	if got := minidump.CrashName(s.OS, e.Code); got != "EXCEPTION_ACCESS_VIOLATION" {
		t.Errorf("CrashName = %q, want EXCEPTION_ACCESS_VIOLATION", got)
	}
	if len(d.Threads) != 2 || d.Threads[1].ID != 7 {
		t.Errorf("Threads = %+v, want ids 1 and 7", d.Threads)
	}
	if len(d.Modules) != 2 {
		t.Fatalf("Modules = %+v, want 2", d.Modules)
	}
	m := d.Modules[0]
	want := minidump.Module{Base: 0x7ff6a1b00000, Size: 0x40000, Name: `C:\Program Files\Crashy\crashy.exe`,
		DebugFile: `C:\build\crashy.pdb`, DebugID: "00112233-4455-6677-8899-aabbccddeeff-2", CodeID: "6500000040000", Kind: "pe"}
	if m != want {
		t.Errorf("Modules[0] = %+v\nwant %+v", m, want)
	}
}

// TestParseLinuxBuildID: a Breakpad ELF CodeView record gives the build id
// as code id and its first 16 bytes, as a GUID, as debug id.
func TestParseLinuxBuildID(t *testing.T) {
	d := minidumptest.Windows()
	d.PlatformID, d.ExceptionCode = 0x8201, 11
	d.Modules = []minidumptest.Module{{Base: 0x400000, Size: 0x1000, Name: "/usr/bin/crashy",
		BuildID: []byte{0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 0xaa, 0xbb, 0xcc, 0xdd}}}
	got, err := minidump.Parse(d.Write())
	if err != nil {
		t.Fatal(err)
	}
	if got.System.OS != "Linux" || minidump.CrashName("Linux", got.Exception.Code) != "SIGSEGV" {
		t.Errorf("System %+v, exception %+v: want a Linux SIGSEGV", got.System, got.Exception)
	}
	m := got.Modules[0]
	if m.Kind != "elf" || m.CodeID != "1032547698badcfe0102030405060708aabbccdd" || m.DebugID != "76543210-ba98-fedc-0102-030405060708" {
		t.Errorf("module = %+v", m)
	}
}

func TestParseRefuses(t *testing.T) {
	good := minidumptest.Windows().Write()
	truncated := good[:len(good)-20] // cuts the stream directory
	badDir := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(badDir[12:], 1<<30)
	for _, tc := range []struct {
		name string
		b    []byte
		not  bool // fails with ErrNotMinidump
	}{
		{"empty", nil, true},
		{"text", []byte("this is not a minidump, it is a sentence of some length"), true},
		{"truncated", truncated, false},
		{"directory beyond the end", badDir, false},
		{"version", append([]byte("MDMP\x00\x00\x00\x00"), good[8:]...), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := minidump.Parse(tc.b)
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if errors.Is(err, minidump.ErrNotMinidump) != tc.not {
				t.Errorf("err = %v; ErrNotMinidump? want %v", err, tc.not)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(minidumptest.Windows().Write())
	d := minidumptest.Windows()
	d.Modules[0].BuildID = []byte{1, 2, 3}
	f.Add(d.Write())
	f.Add([]byte("MDMP\x93\xa7\x00\x00\x01\x00\x00\x00\x20\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := minidump.Parse(b)
		if err != nil {
			return
		}
		if len(d.Modules) > 1<<12 || len(d.Threads) > 1<<12 {
			t.Fatalf("%d modules, %d threads: past the bounds", len(d.Modules), len(d.Threads))
		}
	})
}

func BenchmarkParse(b *testing.B) {
	dump := minidumptest.Windows().Write()
	b.SetBytes(int64(len(dump)))
	for b.Loop() {
		if _, err := minidump.Parse(dump); err != nil {
			b.Fatal(err)
		}
	}
}
