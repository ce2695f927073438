// Package unrealtest writes Unreal Engine crash reports for tests, laid out
// as the Crash Report Client uploads them.
package unrealtest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
)

// File is one file of a report.
type File struct {
	Name string
	Data []byte
}

// Archive lays out the uncompressed archive of files.
func Archive(dir string, files ...File) []byte {
	var b bytes.Buffer
	i32 := func(v int) { binary.Write(&b, binary.LittleEndian, int32(v)) }
	str := func(s string) { i32(len(s) + 1); b.WriteString(s); b.WriteByte(0) }
	size := 0
	for _, f := range files {
		size += len(f.Data)
	}
	str(dir)
	str("UE4CC-Windows-" + dir)
	i32(size)
	i32(len(files))
	for i, f := range files {
		i32(i)
		str(f.Name)
		i32(len(f.Data))
		b.Write(f.Data)
	}
	return b.Bytes()
}

// Report is Archive compressed with zlib, the body the client posts.
func Report(dir string, files ...File) []byte {
	var b bytes.Buffer
	zw := zlib.NewWriter(&b)
	zw.Write(Archive(dir, files...))
	zw.Close()
	return b.Bytes()
}

// Context writes a CrashContext.runtime-xml with the given error message,
// crash GUID, user and engine version.
func Context(errorMessage, crashGUID, userName, loginID, engineVersion string) []byte {
	return fmt.Appendf(nil, `<?xml version="1.0" encoding="UTF-8"?>
<FGenericCrashContext>
	<RuntimeProperties>
		<CrashVersion>3</CrashVersion>
		<ExecutionGuid>0B8A3E6A4D1C4F0E9B1E2F3A4B5C6D7E</ExecutionGuid>
		<CrashGUID>%s</CrashGUID>
		<IsEnsure>false</IsEnsure>
		<IsAssert>false</IsAssert>
		<CrashType>Crash</CrashType>
		<ErrorMessage>%s</ErrorMessage>
		<CrashReporterMessage />
		<ProcessId>4242</ProcessId>
		<SecondsSinceStart>31</SecondsSinceStart>
		<IsInternalBuild>false</IsInternalBuild>
		<IsPerforceBuild>false</IsPerforceBuild>
		<IsSourceDistribution>false</IsSourceDistribution>
		<GameName>UE4-Crashy</GameName>
		<ExecutableName>Crashy</ExecutableName>
		<BuildConfiguration>Development</BuildConfiguration>
		<GameSessionID />
		<PlatformName>WindowsNoEditor</PlatformName>
		<PlatformNameIni>Windows</PlatformNameIni>
		<EngineMode>Game</EngineMode>
		<EngineModeEx>Unset</EngineModeEx>
		<DeploymentName />
		<EngineVersion>%s</EngineVersion>
		<CommandLine>-log</CommandLine>
		<LanguageLCID>1033</LanguageLCID>
		<AppDefaultLocale>en-US</AppDefaultLocale>
		<BuildVersion>++UE4+Release-4.27-CL-18319896</BuildVersion>
		<IsUE4Release>true</IsUE4Release>
		<UserName>%s</UserName>
		<BaseDir>C:/Games/Crashy/Binaries/Win64/</BaseDir>
		<RootDir>C:/Games/Crashy/</RootDir>
		<MachineId>4DEBA1D2F0C64B1B8C2C3F5E1A2B3C4D</MachineId>
		<LoginId>%s</LoginId>
		<EpicAccountId />
		<CallStack />
		<Misc.NumberOfCores>8</Misc.NumberOfCores>
		<Misc.NumberOfCoresIncludingHyperthreads>16</Misc.NumberOfCoresIncludingHyperthreads>
		<Misc.Is64bitOperatingSystem>1</Misc.Is64bitOperatingSystem>
		<Misc.CPUVendor>AuthenticAMD</Misc.CPUVendor>
		<Misc.CPUBrand>AMD Ryzen 7 5800X 8-Core Processor</Misc.CPUBrand>
		<Misc.PrimaryGPUBrand>NVIDIA GeForce RTX 3070</Misc.PrimaryGPUBrand>
		<Misc.OSVersionMajor>Windows 10 (21H2) [10.0.19044.1889]</Misc.OSVersionMajor>
		<Misc.OSVersionMinor />
		<MemoryStats.TotalPhysical>34282586112</MemoryStats.TotalPhysical>
		<MemoryStats.TotalPhysicalGB>32</MemoryStats.TotalPhysicalGB>
	</RuntimeProperties>
	<PlatformProperties>
		<PlatformIsRunningWindows>1</PlatformIsRunningWindows>
		<PlatformCallbackResult>0</PlatformCallbackResult>
	</PlatformProperties>
</FGenericCrashContext>
`, crashGUID, errorMessage, engineVersion, userName, loginID)
}
