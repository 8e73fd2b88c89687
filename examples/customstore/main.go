package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	_ "github.com/lib/pq"
	"golang.org/x/crypto/bcrypt"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/session"
)

const (
	demoSchema   = "customstore_demo"
	demoID       = "legacy-42"
	demoEmail    = "Grace@Example.com"
	demoPassword = "an old password from the old system"
)

func main() {
	dsn := os.Getenv("AUTHV2_POSTGRES_URL")
	if dsn == "" {
		fmt.Println("customstore: set AUTHV2_POSTGRES_URL to a PostgreSQL URL to run this example, e.g.")
		fmt.Println("  AUTHV2_POSTGRES_URL='postgres://user@localhost:5432/db?sslmode=disable' go run ./examples/customstore")
		fmt.Println("It creates the schema " + demoSchema + " (and a legacy app_users table in it) if missing.")
		return
	}
	ctx := context.Background()
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, "customstore:", err)
		os.Exit(1)
	}
	err = run(ctx, db, demoSchema, os.Stdout)
	db.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "customstore FAILED:", err)
		os.Exit(1)
	}
}

// run seeds one user the way the legacy application stored it (a bcrypt
// digest, no authv2 state), logs in through authv2 and shows the digest
// replaced by an argon2id hash in the legacy column.
func run(ctx context.Context, db *sql.DB, schema string, w io.Writer, opts ...authv2.Option) error {
	if err := createLegacySchema(ctx, db, schema); err != nil {
		return err
	}
	if err := seedLegacyUser(ctx, db, schema); err != nil {
		return err
	}
	fmt.Fprintf(w, "1. legacy user %s seeded in %s.app_users with a bcrypt digest (cost %d)\n", demoEmail, schema, bcrypt.DefaultCost)

	if err := adopt(ctx, db, schema); err != nil {
		return err
	}
	fmt.Fprintln(w, "2. adopted: unique index on lower(email), side table authv2_user_extras; app_users unchanged")

	m, err := authv2.New(append([]authv2.Option{authv2.WithUserStore(NewLegacyUserStore(db, schema))}, opts...)...)
	if err != nil {
		return err
	}
	defer m.Close(ctx)

	before, err := digestOf(ctx, db, schema)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "3. stored digest before login: %s…\n", before[:7])

	// The email is typed in another case than stored: lookups are case-insensitive.
	res, err := m.Login(ctx, authv2.LoginInput{
		Email: strings.ToLower(demoEmail), Password: demoPassword,
		Client: session.ClientInfo{IP: "203.0.113.9", UserAgent: "customstore/1.0"},
	})
	if err != nil {
		return fmt.Errorf("login with the legacy password: %w", err)
	}
	fmt.Fprintf(w, "4. logged in as %s (%s), session %s\n", res.User.ID, res.User.DisplayName, res.Session.ID)

	after, err := digestOf(ctx, db, schema)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(after, "$argon2id$") {
		return errors.New("the bcrypt digest was not upgraded on login")
	}
	fmt.Fprintf(w, "5. stored digest after login: %s… (upgraded from bcrypt on the first successful login)\n", after[:10])

	if _, err := m.Authenticate(ctx, res.Token, res.Session.Client); err != nil {
		return fmt.Errorf("authenticate the new session: %w", err)
	}
	fmt.Fprintln(w, "6. the session token authenticates")
	return nil
}

// seedLegacyUser writes the demo user as the legacy application would, or
// puts its bcrypt digest back so that every run shows the upgrade.
func seedLegacyUser(ctx context.Context, db *sql.DB, schema string) error {
	digest, err := bcrypt.GenerateFromPassword([]byte(demoPassword), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `INSERT INTO `+quote(schema)+`.app_users (id, email, full_name, password_digest, is_active)
		VALUES ($1, $2, 'Grace Hopper', $3, true)
		ON CONFLICT (id) DO UPDATE SET password_digest = EXCLUDED.password_digest, is_active = true`,
		demoID, demoEmail, string(digest))
	return translate("demo.seed", err)
}

func digestOf(ctx context.Context, db *sql.DB, schema string) (string, error) {
	var d string
	err := db.QueryRowContext(ctx, `SELECT password_digest FROM `+quote(schema)+`.app_users WHERE id = $1`, demoID).Scan(&d)
	if err == nil && len(d) < 10 {
		return "", errors.New("stored digest too short")
	}
	return d, translate("demo.digest", err)
}
