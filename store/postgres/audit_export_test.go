package postgres

import "github.com/authv2/authv2/audit"

// Audit query texts, for the EXPLAIN test in package postgres_test.

func AuditPageQuery(s *AuditStore, q audit.Query) (string, []any, error) {
	q, err := q.Normalize()
	if err != nil {
		return "", nil, err
	}
	return s.pageQuery(q)
}

func AuditTopDeniedQuery(s *AuditStore) string   { return s.q.topDenied }
func AuditLoginCountsQuery(s *AuditStore) string { return s.q.loginCounts }
