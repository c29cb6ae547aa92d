package compose

import "github.com/compose-spec/compose-go/v2/types"

// Object is a config or secret of the stack with its final name and content.
type Object struct {
	Key      string            // key in the compose file
	Name     string            // name in the swarm
	Hash     string            // sha256 of Data (a secret's: SecretDigest), hex; empty for external objects
	Data     []byte            // content; nil for external objects
	Labels   map[string]string // labels from the file plus deckhand's
	External bool              // the object exists outside the stack
}

// Stack is a loaded, fully interpolated stack, ready to render or convert.
type Stack struct {
	Name     string
	Project  *types.Project // compose-go's model with final resource names
	Configs  map[string]Object
	Secrets  map[string]Object
	Warnings []Warning // swarm-incompatible keys, missing variables under AllowMissing
	// DependsOn is each service's depends_on entries by service key, in
	// dependency key order; never part of a rendered stack or a spec.
	DependsOn map[string][]Dependency
	// FilesDigest is the sha256 of the compose files as read, in order
	// ("sha256:" and hex), so a deploy can say which files it came from.
	FilesDigest string
}

// Condition is what a service waits for of a dependency before it is written.
type Condition string

// Conditions of depends_on, as the compose specification spells them.
const (
	ConditionStarted   Condition = "service_started"                // tasks running
	ConditionHealthy   Condition = "service_healthy"                // tasks running after their healthcheck passed
	ConditionCompleted Condition = "service_completed_successfully" // a job whose tasks completed
)

// Dependency is one depends_on entry of a service.
type Dependency struct {
	Service   string    // key of the service depended on
	Condition Condition // what the dependant waits for
	Position  Position  // where the entry is written
}
