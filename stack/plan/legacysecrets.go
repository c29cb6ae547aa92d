package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"

	"github.com/moby/moby/api/types/swarm"

	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/swarmspec"
)

// adoptLegacySecrets moves a stack over from secret versions named and
// labelled by their content's plain sha256 (deckhand before the salted
// digest) without restarting services: a desired secret version that the
// swarm lacks, whose content a live version of the same stack and key
// holds (its old label says so), is that live version, kept under its
// name; the plan only relabels it (dropping the plain sha256). It is pure:
// d is copied, never changed.
func adoptLegacySecrets(d *swarmspec.Desired, live *Live) *swarmspec.Desired {
	liveByName := map[string]swarm.Secret{}
	for _, s := range live.Secrets {
		liveByName[s.Spec.Name] = s
	}
	rename := map[string]swarm.Secret{} // desired name → live version
	for _, name := range slices.Sorted(maps.Keys(d.Secrets)) {
		spec := d.Secrets[name]
		if _, ok := liveByName[name]; ok || spec.Data == nil || spec.Labels[compose.LabelKey] == "" {
			continue
		}
		sum := sha256.Sum256(spec.Data)
		old := hex.EncodeToString(sum[:])
		for _, s := range live.Secrets {
			l := s.Spec.Labels
			if l[compose.LabelHash] == old && l[compose.LabelKey] == spec.Labels[compose.LabelKey] && l[compose.LabelStack] == spec.Labels[compose.LabelStack] {
				rename[name] = s
				break
			}
		}
	}
	if len(rename) == 0 {
		return d
	}
	out := *d
	out.Secrets = maps.Clone(d.Secrets)
	for name, s := range rename {
		spec := out.Secrets[name]
		delete(out.Secrets, name)
		spec.Name = s.Spec.Name
		out.Secrets[s.Spec.Name] = spec
	}
	out.Services = maps.Clone(d.Services)
	for svcName, svc := range out.Services {
		cs := svc.TaskTemplate.ContainerSpec
		if cs == nil || !slices.ContainsFunc(cs.Secrets, func(r *swarm.SecretReference) bool { _, ok := rename[r.SecretName]; return ok }) {
			continue
		}
		csCopy := *cs
		csCopy.Secrets = make([]*swarm.SecretReference, len(cs.Secrets))
		for i, r := range cs.Secrets {
			rc := *r
			if s, ok := rename[r.SecretName]; ok {
				rc.SecretName, rc.SecretID = s.Spec.Name, s.ID
			}
			csCopy.Secrets[i] = &rc
		}
		svc.TaskTemplate.ContainerSpec = &csCopy
		out.Services[svcName] = svc
	}
	return &out
}
