// Package minidumptest writes small minidumps for tests, laid out as the
// MINIDUMP format describes them: a header, a stream directory, and the
// SystemInfo, Exception, ThreadList and ModuleList streams with their
// strings and CodeView records.
package minidumptest

import (
	"bytes"
	"encoding/binary"
	"unicode/utf16"
)

// Dump describes the minidump Write lays out.
type Dump struct {
	Timestamp  uint32
	Arch       uint16 // PROCESSOR_ARCHITECTURE_*: 9 is amd64
	CPUs       uint8
	PlatformID uint32 // 2 is Windows NT, 0x8201 Linux
	Major      uint32
	Minor      uint32
	Build      uint32
	CSDVersion string

	CrashThread   uint32
	ExceptionCode uint32
	Address       uint64

	Threads []uint32
	Modules []Module
}

// Module is one loaded module.
type Module struct {
	Base      uint64
	Size      uint32
	Name      string
	Timestamp uint32
	// PDB, with GUID and Age, makes an RSDS CodeView record; BuildID,
	// when set instead, a Breakpad ELF one.
	PDB     string
	GUID    [16]byte
	Age     uint32
	BuildID []byte
}

// Windows is a Windows 10 x64 access violation in thread 7 with two modules.
func Windows() Dump {
	return Dump{
		Timestamp: 1700000000, Arch: 9, CPUs: 8, PlatformID: 2, Major: 10, Minor: 0, Build: 19045, CSDVersion: "Service Pack 1",
		CrashThread: 7, ExceptionCode: 0xc0000005, Address: 0x7ff6a1b21234,
		Threads: []uint32{1, 7},
		Modules: []Module{
			{Base: 0x7ff6a1b00000, Size: 0x40000, Name: `C:\Program Files\Crashy\crashy.exe`, Timestamp: 0x65000000,
				PDB: `C:\build\crashy.pdb`, GUID: [16]byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}, Age: 2},
			{Base: 0x7ffb10000000, Size: 0x1f8000, Name: `C:\Windows\System32\ntdll.dll`, Timestamp: 0x5e000000,
				PDB: "ntdll.pdb", GUID: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, Age: 1},
		},
	}
}

// Write lays d out as a minidump.
func (d Dump) Write() []byte {
	type stream struct {
		typ  uint32
		data []byte
	}
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	// Strings and CodeView records go first, after the header; streams
	// refer to them by offset.
	b.Write(make([]byte, 32))
	str := func(s string) uint32 {
		off := uint32(b.Len())
		u := utf16.Encode([]rune(s))
		le(uint32(2 * len(u)))
		le(u)
		le(uint16(0))
		return off
	}
	csd := str(d.CSDVersion)
	type loc struct{ size, rva uint32 }
	names := make([]uint32, len(d.Modules))
	cvs := make([]loc, len(d.Modules))
	for i, m := range d.Modules {
		names[i] = str(m.Name)
		off := uint32(b.Len())
		if m.BuildID != nil {
			b.WriteString("BpEL")
			b.Write(m.BuildID)
		} else {
			b.WriteString("RSDS")
			b.Write(m.GUID[:])
			le(m.Age)
			b.WriteString(m.PDB)
			b.WriteByte(0)
		}
		cvs[i] = loc{uint32(b.Len()) - off, off}
	}

	var streams []stream
	var s bytes.Buffer
	w := func(v any) { binary.Write(&s, binary.LittleEndian, v) }

	w(d.Arch)
	w(uint16(6))    // level
	w(uint16(0))    // revision
	w(d.CPUs)       // number of processors
	w(uint8(1))     // product type: workstation
	w(d.Major)      //
	w(d.Minor)      //
	w(d.Build)      //
	w(d.PlatformID) //
	w(csd)          // CSDVersionRva
	w(uint16(0))    // suite mask
	w(uint16(0))    // reserved
	s.Write(make([]byte, 24))
	streams = append(streams, stream{7, bytes.Clone(s.Bytes())})

	s.Reset()
	w(d.CrashThread)
	w(uint32(0))
	w(d.ExceptionCode)
	w(uint32(0)) // flags
	w(uint64(0)) // nested record
	w(d.Address) //
	w(uint32(0)) // parameters
	w(uint32(0)) // alignment
	s.Write(make([]byte, 15*8+8))
	streams = append(streams, stream{6, bytes.Clone(s.Bytes())})

	s.Reset()
	w(uint32(len(d.Threads)))
	for _, id := range d.Threads {
		w(id)
		s.Write(make([]byte, 12))
		w(uint64(0)) // TEB
		w(uint64(0x7ff000000000 + uint64(id)<<16))
		s.Write(make([]byte, 16))
	}
	streams = append(streams, stream{3, bytes.Clone(s.Bytes())})

	s.Reset()
	w(uint32(len(d.Modules)))
	for i, m := range d.Modules {
		w(m.Base)
		w(m.Size)
		w(uint32(0)) // checksum
		w(m.Timestamp)
		w(names[i])
		s.Write(make([]byte, 52)) // VS_FIXEDFILEINFO
		w(cvs[i].size)
		w(cvs[i].rva)
		s.Write(make([]byte, 8+16)) // misc record, reserved
	}
	streams = append(streams, stream{4, bytes.Clone(s.Bytes())})

	locs := make([]loc, len(streams))
	for i, st := range streams {
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		locs[i] = loc{uint32(len(st.data)), uint32(b.Len())}
		b.Write(st.data)
	}
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	dir := uint32(b.Len())
	for i, st := range streams {
		le(st.typ)
		le(locs[i].size)
		le(locs[i].rva)
	}
	out := b.Bytes()
	copy(out, "MDMP")
	binary.LittleEndian.PutUint32(out[4:], 0xa793)
	binary.LittleEndian.PutUint32(out[8:], uint32(len(streams)))
	binary.LittleEndian.PutUint32(out[12:], dir)
	binary.LittleEndian.PutUint32(out[20:], d.Timestamp)
	return out
}
