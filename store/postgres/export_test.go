package postgres

// Query texts, for the EXPLAIN tests in package postgres_test.

func SessionGetQuery(s *SessionStore) string         { return s.q.get }
func ListByUserQuery(s *SessionStore) string         { return s.q.listByUser }
func DeleteExpiredQuery(s *SessionStore) string      { return s.q.deleteExpired }
func LoadPolicyQuery(s *PermissionStore) string      { return s.q.loadPolicy }
func UserByEmailQuery(s *UserStore) string           { return s.q.getByEmail }
func ListMembershipsQuery(s *PermissionStore) string { return s.q.listMemberships }
