package authv2_test

import (
	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
)

// exampleManager is how every runnable example builds its Manager: the
// in-memory stores, cheap password hashing so the examples run fast
// (production keeps the OWASP defaults), and opts. The examples' only
// use of hashing options is here.
func exampleManager(opts ...authv2.Option) *authv2.Manager {
	m, err := authv2.New(append([]authv2.Option{
		authv2.WithConfig(authv2test.Config()),
		authv2.WithInsecurePasswordHashing(), // tests only: cheap hashes
	}, opts...)...)
	if err != nil {
		panic(err)
	}
	return m
}
