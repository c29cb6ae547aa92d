// Package nginx renders deckhand's routing model into an nginx configuration,
// applies it safely (test, swap, reload, restore on failure) and keeps it in
// step with the swarm (Watch). Metrics counts what Watch does and keeps
// what it last saw and did (Status) for a status page; rendering that page
// is the command's business.
//
// It never connects to an engine: Watch reads the swarm through a Source
// (discovery.EngineSource over the client the caller made), and its errors
// name what is wrong, never a command's flags.
package nginx
