// Package cmp is the domain of the reference cloud management platform:
// the devices an administrator imports, their way from the import to the
// registration center and on to a switch that registers and heartbeats,
// and the rules about all of it.
//
// A device goes through the states of cmpwire: imported (waiting in the
// outbox) → claimed at the center, or conflict / invalid with the center's
// detail → registered when its switch registers → online while it
// heartbeats, offline after MissedHeartbeats beats are missed.
//
// Everything the platform owes the center is in a persistent outbox,
// written in the same transaction as the device rows it stands for: an
// import queues claims, a delete queues a release. The Syncer drains the
// outbox over one client of the center and removes an entry only after the
// center acknowledged it, so nothing imported is lost when either side
// restarts. The Follower follows the center's event stream and keeps its
// cursor in the same transaction as the updates an event causes.
//
// This package holds types, the Store interface, the Service and the two
// loops. It imports the center's domain (regcenter), the wire shapes of the
// platform (cmpwire) and backoff; it must never import net/http, a storage
// driver or the center's client: cmd/regcenter and cmpserver wire those in.
package cmp
