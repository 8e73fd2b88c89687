package doccheck

import (
	"github.com/authv2/authv2"
	"github.com/authv2/authv2/authv2test"
)

// exampleManager returns a Manager on memory stores that hashes cheaply,
// to keep the examples fast; production keeps the OWASP defaults.
func exampleManager() *authv2.Manager {
	m, err := authv2.New(exampleOptions()...)
	if err != nil {
		panic(err)
	}
	return m
}

// exampleOptions are exampleManager's options, for an example that adds
// its own.
func exampleOptions() []authv2.Option {
	return []authv2.Option{authv2.WithConfig(authv2test.Config()), authv2.WithInsecurePasswordHashing()}
}
