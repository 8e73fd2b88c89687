package authv2test

import (
	"context"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/permission"
)

// TXTRecords is an authv2.TXTResolver over records the test publishes,
// for testing domain capture without DNS (authv2.WithTXTResolver). The
// zero value holds none; it is safe for concurrent use.
type TXTRecords struct {
	mu      sync.Mutex
	records map[string][]string
}

var _ authv2.TXTResolver = (*TXTRecords)(nil)

// Publish adds a TXT record of value at name.
func (r *TXTRecords) Publish(name, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.records == nil {
		r.records = map[string][]string{}
	}
	r.records[name] = append(r.records[name], value)
}

// PublishProof publishes the record that proves d (authv2.DomainRecord).
func (r *TXTRecords) PublishProof(d *permission.TenantDomain) { r.Publish(authv2.DomainRecord(d)) }

// LookupTXT returns the records published at name, or a *net.DNSError
// that is not found, as a resolver does. A rooted name ("x.example.")
// finds what was published with or without the root's dot.
func (r *TXTRecords) LookupTXT(_ context.Context, name string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if txt, ok := r.records[name]; ok {
		return slices.Clone(txt), nil
	}
	if txt, ok := r.records[strings.TrimSuffix(name, ".")]; ok {
		return slices.Clone(txt), nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}
