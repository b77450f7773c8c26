// Package storetest is the contract test suite of objstore.Store: one set
// of table-driven tests that every backend and wrapper must pass. Other
// packages can run it on their own Store implementations:
//
//	func TestContract(t *testing.T) {
//		storetest.RunContractTests(t, func(t *testing.T) objstore.Store {
//			return objstore.NewMemory()
//		})
//	}
//
// The suite covers missing keys, ranges (partial, past the end), overwrite,
// PutIfAbsent (including a 16-writer race with exactly one winner), Delete
// idempotence, List ordering, prefixes and pagination, buffer ownership,
// canceled contexts, invalid keys, and a seeded random sequence of
// operations checked against a plain map (RandomOpsMatchModel).
//
// It also holds Prefixed (NewPrefixed), a view of a store under a key
// prefix, with which tests share one store or bucket between independent
// runs.
//
// newStore must return an empty store each time it is called. The suite
// sends no traffic of its own beyond what the store does, and runs in a few
// seconds on a local S3 server.
package storetest
