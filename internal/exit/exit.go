// Package exit carries process exit codes on errors, so commands return
// errors and only main decides how the process ends.
package exit

import "errors"

// Exit codes shared by every deckhand command.
const (
	OK          = 0 // success, or no changes for plan --detailed-exitcode
	Failure     = 1 // any error before or while applying
	Changes     = 2 // plan --detailed-exitcode: the plan has changes
	NotConverge = 3 // deploy/rollback: a service failed to converge (rolled back or timed out)
)

// Error is an error with the exit code the process should end with.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// With wraps err so that the process exits with code. A nil err stays nil
// unless code is not OK, in which case a silent error carrying code is returned.
func With(code int, err error) error {
	if err == nil && code == OK {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// Code is the exit code err asks for: OK for nil, Failure unless err carries
// another code.
func Code(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Failure
}

// Silent reports whether err has nothing to print (an exit code alone).
func Silent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Err == nil
}
