package quorum

import "fmt"

// Quantity is an input of the math, as its errors name it.
type Quantity string

// The inputs errors name.
const (
	NodeDownP    Quantity = "node-down probability p"
	ZoneDownP    Quantity = "zone-down probability q"
	TargetP      Quantity = "target probability"
	MTBF         Quantity = "MTBF"
	MTTR         Quantity = "MTTR"
	ManagerCount Quantity = "manager count"
)

// String is the quantity's name.
func (q Quantity) String() string { return string(q) }

// NamedError is an error about inputs of the math. Error names them as
// Quantity does; Message names each one as name returns, so that a caller
// can point at where the value came from (a command, at its flag).
type NamedError interface {
	error
	Message(name func(Quantity) string) string
}

var (
	_ NamedError = (*RangeError)(nil)
	_ NamedError = (*UnreachableError)(nil)
)

// RangeError is an input outside the range the math accepts: a
// probability outside 0..1, a target outside (0, 1), or an MTBF or MTTR
// that is not positive.
type RangeError struct {
	Quantity Quantity // NodeDownP, ZoneDownP, TargetP, MTBF or MTTR
	Value    any      // float64, or time.Duration for MTBF and MTTR
}

func (e *RangeError) Error() string { return e.Message(Quantity.String) }

// Message is the error with the quantity written as name returns it.
func (e *RangeError) Message(name func(Quantity) string) string {
	switch e.Quantity {
	case TargetP:
		return fmt.Sprintf("%s %v must be a probability above 0 and below 1, such as 1e-6", name(e.Quantity), e.Value)
	case MTBF:
		return fmt.Sprintf("%s %v must be positive: give the mean time between failures, such as 2000h", name(e.Quantity), e.Value)
	case MTTR:
		return fmt.Sprintf("%s %v must be positive: give the mean time to repair, such as 4h", name(e.Quantity), e.Value)
	default:
		return fmt.Sprintf("%s %v is not a probability: give a value from 0 to 1, such as 0.01", name(e.Quantity), e.Value)
	}
}

// UnreachableError is a target that no manager count up to Tried meets.
type UnreachableError struct {
	Target float64 // the probability of losing quorum asked for
	P      float64 // one node's probability of being down
	Zones  int     // zones the managers spread over; 0 without zones
	ZoneP  float64 // one zone's probability of being down
	Tried  int     // the largest manager count tried
}

func (e *UnreachableError) Error() string { return e.Message(Quantity.String) }

// Message is the error with the inputs written as name returns them.
func (e *UnreachableError) Message(name func(Quantity) string) string {
	if e.Zones == 0 {
		return fmt.Sprintf("no manager count up to %d keeps the probability of losing quorum at or below %v with %s %v: lower %s (more reliable nodes) or accept a higher %s",
			e.Tried, e.Target, name(NodeDownP), e.P, name(NodeDownP), name(TargetP))
	}
	return fmt.Sprintf("no manager count up to %d spread over %d zones keeps the probability of losing quorum at or below %v with %s %v and %s %v: whole-zone failures set a floor; add zones, lower %s or accept a higher %s",
		e.Tried, e.Zones, e.Target, name(NodeDownP), e.P, name(ZoneDownP), e.ZoneP, name(ZoneDownP), name(TargetP))
}
