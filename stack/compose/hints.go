package compose

import (
	"os"
	"path/filepath"
	"slices"

	"github.com/compose-spec/compose-go/v2/template"
	"go.yaml.in/yaml/v4"
)

// ImageHints reads the `image:` values of the compose files of o without
// loading them (no merging, no validation), so that registry lookups can
// start while the stack loads. Variables are substituted by compose-go's
// own template rules from the environment the load uses (env files and the
// process environment); an image that names a variable that is not set is
// left out. They are hints only: a caller uses a lookup only for an image
// the loaded stack really has.
func ImageHints(o Options) []string {
	var out []string
	var env map[string]string
	for i, f := range o.Files {
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
		if env == nil && i == 0 {
			// compose reads .env next to the first file.
			env, _ = environment(o, filepath.Dir(f))
		}
		for _, svc := range doc.Services {
			if image, ok := substituteHint(svc.Image, env); ok {
				out = append(out, image)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// substituteHint is image with its variables substituted from env; false
// when it comes out empty, the template is invalid or it names a variable
// that is neither set nor given a default.
func substituteHint(image string, env map[string]string) (string, bool) {
	for name, v := range template.ExtractVariables(map[string]any{"image": image}, nil) {
		if _, set := env[name]; !set && v.DefaultValue == "" {
			return "", false
		}
	}
	s, err := template.SubstituteWithOptions(image, func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}, template.WithoutLogging)
	return s, err == nil && s != ""
}
