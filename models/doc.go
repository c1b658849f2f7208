// Package models is entitled's vocabulary and its pure rules: the plain types (accounts,
// licenses, contracts, members, users, products, signing keys, …), every error code, and the
// rules over them (contract status, entitlements, response targets, License Numbers, versions,
// dates, pages). It imports only the standard library (imports_test.go checks it), so that a
// rule runs, and is tested, without a database. Persistence is in package models/store.
package models
