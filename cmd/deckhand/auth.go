package main

import (
	"fmt"
	"sync"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/config/configfile"
)

// registryAuth hands out encoded registry credentials for images from a
// docker config file (and the credential helpers it names), once per
// registry. The encoded values are secrets: never print or log them.
type registryAuth struct {
	cfg   *configfile.ConfigFile
	mu    sync.Mutex
	cache map[string]string
}

// newRegistryAuth hands out the credentials of a docker config.
func newRegistryAuth(cfg *configfile.ConfigFile) *registryAuth {
	return &registryAuth{cfg: cfg, cache: map[string]string{}}
}

// Encode returns the X-Registry-Auth value for image's registry ("" when
// the config has no credentials for it).
func (r *registryAuth) Encode(image string) (string, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", image, err)
	}
	domain := reference.Domain(named)
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.cache[domain]; ok {
		return v, nil
	}
	v, err := command.RetrieveAuthTokenFromImage(r.cfg, image)
	if err != nil {
		return "", fmt.Errorf("read credentials for registry %q: %w; run docker login %s", domain, err, domain)
	}
	r.cache[domain] = v
	return v, nil
}
