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
// newStore must return an empty store each time it is called. The suite
// sends no traffic of its own beyond what the store does, and runs in a few
// seconds on a local S3 server.
package storetest
