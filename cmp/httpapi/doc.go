// Package httpapi is the reference platform's two HTTP APIs (callers
// import it as cmphttp): the device API that switches call over mutual TLS
// with their device certificates, and the administrator's API, plain HTTP
// on a loopback listener. routes.go lists both. It reuses the center's
// httpapi package for what every server of this project shares (listeners,
// problem details, strict JSON) and adds only the platform's handlers.
//
// It must never import a store; it talks to the platform through
// *cmp.Service only.
package httpapi
