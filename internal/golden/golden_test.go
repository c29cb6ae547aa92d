package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records failures instead of stopping.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestAssert(t *testing.T) {
	if Updating() {
		t.Skip("compares files; meaningless under -update")
	}
	path := filepath.Join(t.TempDir(), "a.golden")
	if err := os.WriteFile(path, []byte("same\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		got  string
		path string
		fail bool
	}{
		{"same\n", path, false},
		{"other\n", path, true},
		{"same\n", path + ".missing", true},
	} {
		r := &recorder{TB: t}
		Assert(r, []byte(tc.got), tc.path)
		if r.failed != tc.fail {
			t.Errorf("Assert(%q, %s): failed=%v, want %v", tc.got, filepath.Base(tc.path), r.failed, tc.fail)
		}
	}
}
