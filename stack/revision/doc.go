// Package revision is the pure core of a stack's revisions: what a deploy
// records (the stack's service specs after it, images pinned to digests,
// the config and secret versions they use, who ran it and why), how a
// revision is built from a plan, how two revisions or a revision and the
// live stack differ, which revision the live stack runs, and which object
// versions the kept revisions still need. Records are stored by
// stack/record; stack/deploy reads and writes them. It never contacts an
// engine.
package revision
