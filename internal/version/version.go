// Package version reports what build of Phalanx is running: the version,
// commit and build date stamped by the release build
// (go build -ldflags "-X github.com/phalanx-ids/phalanx/internal/version.version=v1.2.3 ..."),
// else what the Go toolchain recorded (module version, VCS revision and
// time), else "dev".
package version

import (
	"runtime"
	"runtime/debug"
)

// Set by the linker (-X); read only through Get.
var (
	version string
	commit  string
	date    string
)

// Info is the build's identity.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BuildDate string `json:"build_date"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
	Modified  bool   `json:"modified,omitempty"` // built from a tree with uncommitted changes
}

// Get returns the build's identity.
func Get() Info {
	info := Info{Version: version, Commit: commit, BuildDate: date,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		fromBuildInfo(&info, bi)
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	return info
}

// fromBuildInfo fills what the linker did not set from the toolchain's
// record.
func fromBuildInfo(info *Info, bi *debug.BuildInfo) {
	if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if info.Commit == "" {
				info.Commit = s.Value
			}
		case "vcs.time":
			if info.BuildDate == "" {
				info.BuildDate = s.Value
			}
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
}

// UserAgent is "phalanx/<version>", for outbound requests.
func UserAgent() string { return "phalanx/" + Get().Version }
