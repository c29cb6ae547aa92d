package compose

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"
)

// LiteralImages reads the literal `image:` values of the compose files of o
// without loading them (no merging, no interpolation), so that registry
// lookups can start while the stack loads. They are hints only: a caller
// uses a lookup only for an image the loaded stack really has.
func LiteralImages(o Options) []string {
	var out []string
	for _, f := range o.Files {
		if f == "-" {
			continue
		}
		if !filepath.IsAbs(f) && o.WorkingDir != "" {
			f = filepath.Join(o.WorkingDir, f)
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var doc struct {
			Services map[string]struct {
				Image string `yaml:"image"`
			} `yaml:"services"`
		}
		if yaml.Unmarshal(raw, &doc) != nil {
			continue
		}
		for _, svc := range doc.Services {
			if svc.Image != "" && !strings.Contains(svc.Image, "$") {
				out = append(out, svc.Image)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
