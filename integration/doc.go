// Package integration holds tests that drive whole in-process clusters
// (internal/testcluster) through the SDK, as a user would.
package integration
