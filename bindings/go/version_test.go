package hostgate

import (
	"os"
	"regexp"
	"testing"
)

// One version for the workspace, the C library and every binding: the library this package
// links reports the version of the Cargo workspace it was built from.
func TestVersionIsTheWorkspaceVersion(t *testing.T) {
	raw, err := os.ReadFile("../../Cargo.toml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?ms)^\[workspace\.package\]$.*?^version = "([^"]+)"$`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("no version in [workspace.package] of Cargo.toml")
	}
	if got, want := Version(), string(m[1]); got != want {
		t.Fatalf("Version() = %q, the workspace is %q", got, want)
	}
}
