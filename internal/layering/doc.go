// Package layering holds no code: its test enforces the layering of the
// module, objstore <- cache <- lsm <- kvfs <- exports/nfs <- cmd (see
// docs/design.md). Each production package may import only the module's
// packages its layer allows; test files are not checked, so a test may reach
// across layers to build fixtures. Test support (fault injection, contract
// suites, test servers, the VM harness, the S3 proxy) may be imported only
// by other test support, e2e and bench, never by production code.
package layering
