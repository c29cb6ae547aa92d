// Package quorumplot draws, for `deckhand quorum --plot`, the probability of
// losing quorum against the manager count: one curve per node failure
// probability, exact and estimated, with an optional target line and a
// second panel for managers spread over zones. Its numbers come from the
// quorum package's own functions (Analyze, BestSpread, AnalyzeZones, the
// ones behind the table); gonum/plot draws them as SVG or PNG.
package quorumplot
