// Package pki creates the development public-key infrastructure of the
// registration center and keeps it in one directory layout ([Dir]).
//
// There are three certificate authorities, each with one job, so that a
// certificate's issuer alone says what its holder is:
//
//   - the center CA signs the center's own server certificate; platforms and
//     switches trust it to reach the center;
//   - the platform CA signs the client certificates of cloud management
//     platforms (subject CN = platform ID);
//   - the device CA signs device certificates, stand-ins for the IEEE
//     802.1AR IDevIDs that real switches carry from the factory (subject
//     serialNumber = ESN, CN = ESN).
//
// All keys are ECDSA P-256 and all signatures ECDSA with SHA-256: cheap
// for a server that verifies a client chain on every handshake, and
// supported by every TLS stack and TPM a switch may carry. Private keys are written as PKCS #8 PEM,
// readable by their owner only.
//
// In production the device CA is a vendor's and only its certificate is
// needed; this package then serves tests, demonstrations and load
// generation.
//
// pki imports the domain (for what a valid ESN or platform ID is) and the
// standard library only. It must never import net/http, another
// package of this module (mtls, httpapi, ...) or any store: it makes and
// reads files, nothing more.
package pki
