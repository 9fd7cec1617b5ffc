// Package httpapi is the center's HTTP transport: the JSON API that
// platforms and switches call over HTTP/2 with mutual TLS, the operations
// endpoints, and the servers that run them.
//
// It translates between HTTP and the domain: it decodes and bounds
// requests, takes the caller's identity from the verified TLS chain (never
// from anything the caller sends), calls regcenter.Service, and renders
// every error as RFC 9457 problem details in one place (problem.go).
//
// It must never import a store: it sees only the domain's Service.
package httpapi
