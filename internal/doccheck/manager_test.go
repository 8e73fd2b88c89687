package doccheck

import (
	"github.com/authv2/authv2"
	"github.com/authv2/authv2/user"
)

// exampleManager returns a Manager on memory stores that hashes cheaply,
// to keep the examples fast; production keeps the OWASP defaults.
func exampleManager() *authv2.Manager {
	m, err := authv2.New(authv2.WithPasswordParams(user.Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}),
		authv2.WithInsecurePasswordHashing())
	if err != nil {
		panic(err)
	}
	return m
}
