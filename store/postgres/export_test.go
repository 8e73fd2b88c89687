package postgres

// Query texts, for the EXPLAIN tests in package postgres_test.

func SessionGetQuery(s *SessionStore) string         { return s.q.get.text }
func ListByUserQuery(s *SessionStore) string         { return s.q.listByUser }
func DeleteExpiredQuery(s *SessionStore) string      { return s.q.deleteExpired }
func LoadPolicyQuery(s *PermissionStore) string      { return s.q.loadPolicy.text }
func UserByEmailQuery(s *UserStore) string           { return s.q.getByEmail }
func ListMembershipsQuery(s *PermissionStore) string { return s.q.listMemberships }

// VerifiedDomainQuery is JoinDomain's lookup of a domain's verified claim.
func VerifiedDomainQuery(s *PermissionStore) string { return s.dq.findVerified }

// LoadPolicyQueryWith is LoadPolicy's statement over another walk of the
// roles (a CTE named resolved), for benchmarks comparing walks.
func LoadPolicyQueryWith(s *PermissionStore, resolved string) string {
	return s.h.q(loadPolicyQuery(resolved))
}
