// Package regcenter is the domain of the device registration query center:
// the devices that cloud management platforms claim, the address
// information those platforms publish, and the bootstrap question a switch
// asks when it boots unconfigured ("where is my platform?").
//
// The protocol in one paragraph: a platform, authenticated by a client
// certificate from the platform CA, publishes its addresses (PutPlatform)
// and claims devices by serial number (UploadDevices). A switch,
// authenticated by its device certificate (an IDevID whose subject
// serialNumber is its ESN), asks Bootstrap; the center answers with the
// addresses and trust anchor of the platform that claimed it, or
// not_claimed with a delay after which to ask again. A device certificate
// only ever reveals the platform of its own ESN, and nothing a platform
// sees ever names another platform.
//
// This package holds the types, the errors, the storage interfaces and the
// Service that enforces the rules. It must never import a transport
// (net/http, crypto/tls), a storage driver, or any other package of this
// module: adapters import it, never the other way round.
package regcenter
