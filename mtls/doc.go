// Package mtls is the mutual-TLS boundary of the center: the TLS
// configurations of its server and of the project's own clients, a
// listener that completes (and accounts for) every handshake before a
// connection reaches HTTP, and the mapping from a verified certificate
// chain to a regcenter.Identity.
//
// Who a caller is follows from which CA its verified chain ends at and
// nothing else: a chain to a platform CA makes a platform whose ID is the
// leaf's CN; a chain to a device CA makes a device whose ID is the leaf's
// subject serialNumber (the ESN, as IEEE 802.1AR IDevIDs carry it). A chain
// that fits neither, or names an invalid ID, fails the handshake.
//
// mtls imports the domain and the standard library only. It must never
// import net/http (the listener hands *tls.Conn values to whoever serves
// them), a store, or another package of this module.
package mtls
