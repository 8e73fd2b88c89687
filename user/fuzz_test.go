package user_test

import (
	"testing"

	"github.com/authv2/authv2/user"
)

func FuzzDecodePHC(f *testing.F) {
	_, _, _, valid := validPHC()
	f.Add(valid)
	f.Add("")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw")
	f.Add("$argon2id$v=16$m=64,t=1,p=1$c2FsdA$a2V5a2V5")
	f.Add("$argon2id$v=19$m=4294967296,t=1,p=1$c2FsdA$a2V5a2V5")
	f.Add("$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := user.DecodePHC(s)
		if err != nil {
			return
		}
		p2, salt2, key2, err := user.DecodePHC(user.EncodePHC(p, salt, key))
		if err != nil || p2 != p || string(salt2) != string(salt) || string(key2) != string(key) {
			t.Fatalf("DecodePHC(%q) does not round trip: %v", s, err)
		}
	})
}
