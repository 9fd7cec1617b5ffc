// Package agent is the switch side of zero-touch onboarding: the state
// machine that a switch runs from its first boot until its cloud
// management platform sees it online.
//
// A switch starts in traditional mode. It takes its management address
// from a Discovery stage (static settings today, DHCP in a later issue),
// then asks the registration center where its platform is. Once the
// center answers, it persists cloud mode, the platform's addresses and
// the trust anchor, and restarts: Run returns ErrRestart and the caller
// restarts the switch (the standalone agent re-executes itself, the fleet
// simulator builds a fresh Agent), so that nothing but the state
// directory crosses a restart. In cloud mode it asks the center again
// (following the platform if it moved), registers with the platform over
// HTTP/2 mutual TLS, authenticating the platform with the center's trust
// anchor only, and heartbeats.
//
// DHCP option 148 (Huawei's agilemode=agile-cloud text) takes priority
// over the center: when it is valid and a platform CA is preinstalled, the
// switch goes to that platform without asking the center. Why each of
// these rules is as strict as it is: docs/decisions/0008.
//
// The state directory is the only memory of a switch (see State); every
// write to it is atomic. agent is a client of the center (package client)
// and of the platform's device API (cmp/cmpwire). It must never import a
// store, the center's server (httpapi) or the platform's implementation:
// a switch knows those parties only by their wire protocols.
package agent
