// Package loadgen measures what a server costs per switch: the scenarios of
// `regcenter loadgen` (cold handshakes, warm HTTP/2 streams, platform
// uploads, idle connections, the full switch flow), the bare baseline
// server the center is compared with, and the readings of /proc that turn
// a run into CPU time per operation and memory per connection.
//
// A scenario runner takes a Target (where the server is, how to trust it,
// which process to read) and returns a Result; it never prints. Formatting
// is in format.go, and starting server processes and alternating runs is
// package loadgen/suite's job, so that every runner can be tested against
// an in-process server.
//
// loadgen talks to servers only through the network, with the project's
// own client (package client) and TLS settings (package mtls). It must
// never import a store or the center's HTTP transport (httpapi): the
// figures would then measure something other than what a switch sees.
package loadgen
