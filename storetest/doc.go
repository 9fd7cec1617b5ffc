// Package storetest is the one conformance suite for every backend of
// regcenter.Store. A backend's test calls
//
//	storetest.Run(t, func(t *testing.T) regcenter.Store { ... })
//
// and passes when it keeps the contract documented in the domain's
// store.go, which this suite checks and nothing more: no SQL, no file, no
// driver. A behaviour the suite needs that store.go does not spell out is
// stated in Run's documentation, so that the two can be reconciled.
//
// It imports only the domain and the standard library; it must never import
// a backend (sqlite, postgres) or a transport.
package storetest
