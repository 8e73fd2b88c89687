// Package bench compares authv2's permission engine with Casbin on one
// generated multi-tenant workload. It is a separate module so that the
// library never depends on the libraries it is measured against; run it
// from this directory:
//
//	go test -run '^$' -bench . -benchmem
package bench
