// Package minidump reads what a minidump (Microsoft's MINIDUMP format, also
// written by Breakpad and Crashpad) tells without symbolication: the
// operating system and CPU (SystemInfo stream), the exception and the
// crashing thread (Exception stream), the threads, and the loaded modules
// with their debug identifiers (ModuleList stream). It reads untrusted
// bytes: every offset and count is checked against the buffer, nothing is
// allocated by a count the data declares beyond what the data holds.
package minidump

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
)

// Signature is "MDMP", the first four bytes of every minidump.
const Signature = "MDMP"

// Stream types read here (MINIDUMP_STREAM_TYPE).
const (
	streamThreadList = 3
	streamModuleList = 4
	streamException  = 6
	streamSystemInfo = 7
)

// Limits on what one dump may make the reader produce.
const (
	maxStreams = 1 << 12
	maxModules = 1 << 12
	maxThreads = 1 << 12
	maxString  = 1 << 12 // bytes of one UTF-16 string
)

// ErrNotMinidump is returned for bytes that do not start with a minidump
// header.
var ErrNotMinidump = errors.New("not a minidump: missing MDMP signature")

// Dump is what a minidump tells.
type Dump struct {
	Timestamp  uint32 // seconds since 1970, 0 when unset
	System     *SystemInfo
	Exception  *Exception
	Threads    []Thread
	Modules    []Module
	StreamKind []uint32 // the types of every stream, in directory order
}

// SystemInfo is the SystemInfo stream.
type SystemInfo struct {
	Arch       string // x86, amd64, arm, arm64, … ("unknown" for others)
	CPUCount   int
	OS         string // Windows, Linux, macOS, iOS, Android, …
	OSVersion  string // major.minor.build
	OSBuild    string // the service pack or, from Breakpad, the kernel string
	PlatformID uint32
}

// Exception is the Exception stream.
type Exception struct {
	ThreadID uint32
	Code     uint32
	Flags    uint32
	Address  uint64
}

// Thread is one entry of the ThreadList stream.
type Thread struct {
	ID        uint32
	StackBase uint64
}

// Module is one entry of the ModuleList stream.
type Module struct {
	Base      uint64
	Size      uint32
	Name      string // the code file's path
	DebugFile string // the PDB or debug file named by the CodeView record
	DebugID   string // Sentry's debug identifier: a GUID and an age
	CodeID    string // the build id (ELF) or timestamp+size (PE)
	Kind      string // pe, elf or macho, as far as the record tells
}

// Parse reads a minidump. It fails with an error wrapping ErrNotMinidump
// for other bytes, and with a descriptive error for a truncated or
// inconsistent dump.
func Parse(b []byte) (*Dump, error) {
	if len(b) < 32 || string(b[:4]) != Signature {
		return nil, ErrNotMinidump
	}
	r := reader(b)
	if v := r.u32(4) & 0xffff; v != 0xa793 {
		return nil, fmt.Errorf("minidump version %#x, want 0xa793", v)
	}
	n := r.u32(8)
	dirRVA := r.u32(12)
	d := &Dump{Timestamp: r.u32(20)}
	if n > maxStreams {
		return nil, fmt.Errorf("minidump declares %d streams, at most %d are read", n, maxStreams)
	}
	if !r.has(dirRVA, uint64(n)*12) {
		return nil, fmt.Errorf("minidump stream directory (%d entries at %d) lies beyond its %d bytes", n, dirRVA, len(b))
	}
	for i := uint32(0); i < n; i++ {
		e := dirRVA + 12*i
		typ, size, rva := r.u32(e), r.u32(e+4), r.u32(e+8)
		d.StreamKind = append(d.StreamKind, typ)
		if typ == 0 { // unused entry
			continue
		}
		if !r.has(rva, uint64(size)) {
			return nil, fmt.Errorf("minidump stream %d (type %d) lies beyond the dump", i, typ)
		}
		var err error
		switch typ {
		case streamSystemInfo:
			if d.System == nil {
				d.System, err = r.systemInfo(rva, size)
			}
		case streamException:
			if d.Exception == nil {
				d.Exception, err = r.exception(rva, size)
			}
		case streamThreadList:
			if d.Threads == nil {
				d.Threads, err = r.threads(rva, size)
			}
		case streamModuleList:
			if d.Modules == nil {
				d.Modules, err = r.modules(rva, size)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

// reader reads little-endian fields of a dump at offsets the caller has
// checked with has.
type reader []byte

func (r reader) has(off uint32, n uint64) bool { return uint64(off)+n <= uint64(len(r)) }
func (r reader) u16(off uint32) uint16         { return binary.LittleEndian.Uint16(r[off:]) }
func (r reader) u32(off uint32) uint32         { return binary.LittleEndian.Uint32(r[off:]) }
func (r reader) u64(off uint32) uint64         { return binary.LittleEndian.Uint64(r[off:]) }

// str reads a MINIDUMP_STRING: a byte length, then UTF-16LE.
func (r reader) str(rva uint32) (string, bool) {
	if rva == 0 || !r.has(rva, 4) {
		return "", false
	}
	n := r.u32(rva)
	if n%2 != 0 || n > maxString || !r.has(rva+4, uint64(n)) {
		return "", false
	}
	u := make([]uint16, n/2)
	for i := range u {
		u[i] = r.u16(rva + 4 + uint32(2*i))
	}
	return strings.TrimRight(string(utf16.Decode(u)), "\x00"), true
}

func (r reader) systemInfo(rva, size uint32) (*SystemInfo, error) {
	if size < 32 {
		return nil, fmt.Errorf("minidump SystemInfo stream of %d bytes is too short", size)
	}
	s := &SystemInfo{
		Arch:       arch(r.u16(rva)),
		CPUCount:   int(r[rva+6]),
		PlatformID: r.u32(rva + 20),
	}
	major, minor, build := r.u32(rva+8), r.u32(rva+12), r.u32(rva+16)
	s.OS = osName(s.PlatformID)
	s.OSVersion = fmt.Sprintf("%d.%d.%d", major, minor, build)
	if v, ok := r.str(r.u32(rva + 24)); ok {
		s.OSBuild = v
	}
	return s, nil
}

func (r reader) exception(rva, size uint32) (*Exception, error) {
	if size < 32 {
		return nil, fmt.Errorf("minidump Exception stream of %d bytes is too short", size)
	}
	return &Exception{
		ThreadID: r.u32(rva),
		Code:     r.u32(rva + 8),
		Flags:    r.u32(rva + 12),
		Address:  r.u64(rva + 24),
	}, nil
}

const threadSize = 48

func (r reader) threads(rva, size uint32) ([]Thread, error) {
	n, err := r.count(rva, size, threadSize, maxThreads, "ThreadList")
	if err != nil {
		return nil, err
	}
	out := make([]Thread, 0, n)
	for i := uint32(0); i < n; i++ {
		t := rva + 4 + i*threadSize
		out = append(out, Thread{ID: r.u32(t), StackBase: r.u64(t + 24)})
	}
	return out, nil
}

const moduleSize = 108

func (r reader) modules(rva, size uint32) ([]Module, error) {
	n, err := r.count(rva, size, moduleSize, maxModules, "ModuleList")
	if err != nil {
		return nil, err
	}
	out := make([]Module, 0, n)
	for i := uint32(0); i < n; i++ {
		m := rva + 4 + i*moduleSize
		mod := Module{Base: r.u64(m), Size: r.u32(m + 8)}
		mod.Name, _ = r.str(r.u32(m + 20))
		timestamp := r.u32(m + 16)
		cvSize, cvRVA := r.u32(m+76), r.u32(m+80)
		if cvSize > 0 && r.has(cvRVA, uint64(cvSize)) {
			r.codeView(&mod, r[cvRVA:cvRVA+cvSize])
		}
		if mod.Kind == "pe" && mod.CodeID == "" {
			mod.CodeID = fmt.Sprintf("%08X%x", timestamp, mod.Size)
		}
		out = append(out, mod)
	}
	return out, nil
}

// count reads a list stream's entry count and checks the entries fit both
// the stream and the dump.
func (r reader) count(rva, size, entry, max uint32, name string) (uint32, error) {
	if size < 4 {
		return 0, fmt.Errorf("minidump %s stream of %d bytes is too short", name, size)
	}
	n := r.u32(rva)
	if n > max {
		return 0, fmt.Errorf("minidump %s declares %d entries, at most %d are read", name, n, max)
	}
	if uint64(n)*uint64(entry)+4 > uint64(size) {
		return 0, fmt.Errorf("minidump %s declares %d entries, more than its %d bytes hold", name, n, size)
	}
	return n, nil
}

// codeView reads a module's CodeView record: RSDS (PDB 7.0, Windows) or
// Breakpad's BpEL (an ELF build id).
func (r reader) codeView(m *Module, cv []byte) {
	if len(cv) < 4 {
		return
	}
	switch string(cv[:4]) {
	case "RSDS":
		if len(cv) < 24 {
			return
		}
		m.Kind = "pe"
		age := binary.LittleEndian.Uint32(cv[20:])
		m.DebugID = guid(cv[4:20]) + fmt.Sprintf("-%x", age)
		m.DebugFile = strings.TrimRight(string(cv[24:]), "\x00")
	case "BpEL":
		id := cv[4:] // the signature, then the build id
		if len(id) == 0 {
			return
		}
		m.Kind = "elf"
		m.CodeID = hex.EncodeToString(id)
		var g [16]byte
		copy(g[:], id)
		m.DebugID = guid(g[:])
	}
}

// guid formats 16 bytes as a GUID whose first three fields are stored
// little-endian, as Windows stores them.
func guid(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%s-%s", binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint16(b[4:]),
		binary.LittleEndian.Uint16(b[6:]), hex.EncodeToString(b[8:10]), hex.EncodeToString(b[10:16]))
}

func arch(a uint16) string {
	switch a {
	case 0:
		return "x86"
	case 5:
		return "arm"
	case 6:
		return "ia64"
	case 9:
		return "amd64"
	case 12, 0x8003:
		return "arm64"
	case 3:
		return "ppc"
	case 1:
		return "mips"
	case 0x8002:
		return "mips64"
	}
	return "unknown"
}

func osName(platform uint32) string {
	switch platform {
	case 0, 1, 2:
		return "Windows"
	case 0x8000:
		return "Unix"
	case 0x8101:
		return "macOS"
	case 0x8102:
		return "iOS"
	case 0x8201:
		return "Linux"
	case 0x8202:
		return "Solaris"
	case 0x8203:
		return "Android"
	case 0x8204:
		return "PS3"
	case 0x8205:
		return "NaCl"
	case 0x8206:
		return "Fuchsia"
	}
	return "unknown"
}

// CrashName names an exception code as the platform calls it: a Windows
// exception code, a POSIX signal, or a Mach exception; "" when unknown.
func CrashName(os string, code uint32) string {
	switch os {
	case "Windows":
		return windowsCodes[code]
	case "macOS", "iOS":
		if n := machCodes[code]; n != "" {
			return n
		}
	}
	return signals[code]
}

var windowsCodes = map[uint32]string{
	0xc0000005: "EXCEPTION_ACCESS_VIOLATION",
	0xc0000006: "EXCEPTION_IN_PAGE_ERROR",
	0xc000001d: "EXCEPTION_ILLEGAL_INSTRUCTION",
	0xc0000025: "EXCEPTION_NONCONTINUABLE_EXCEPTION",
	0xc000008c: "EXCEPTION_ARRAY_BOUNDS_EXCEEDED",
	0xc000008e: "EXCEPTION_FLT_DIVIDE_BY_ZERO",
	0xc0000094: "EXCEPTION_INT_DIVIDE_BY_ZERO",
	0xc0000095: "EXCEPTION_INT_OVERFLOW",
	0xc0000096: "EXCEPTION_PRIV_INSTRUCTION",
	0xc00000fd: "EXCEPTION_STACK_OVERFLOW",
	0xc0000409: "EXCEPTION_STACK_BUFFER_OVERRUN",
	0xc0000374: "EXCEPTION_HEAP_CORRUPTION",
	0x80000003: "EXCEPTION_BREAKPOINT",
	0x80000004: "EXCEPTION_SINGLE_STEP",
	0x80000002: "EXCEPTION_DATATYPE_MISALIGNMENT",
	0xe06d7363: "Unhandled C++ Exception",
}

var machCodes = map[uint32]string{
	1:  "EXC_BAD_ACCESS",
	2:  "EXC_BAD_INSTRUCTION",
	3:  "EXC_ARITHMETIC",
	5:  "EXC_SOFTWARE",
	6:  "EXC_BREAKPOINT",
	10: "EXC_CRASH",
	11: "EXC_RESOURCE",
	12: "EXC_GUARD",
}

var signals = map[uint32]string{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
	8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 15: "SIGTERM",
}
