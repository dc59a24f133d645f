package grid

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"
)

// DemoUsers are the accounts `gridtrace demo` seeds, one per role, each with the
// published password "<name>-demo"; serve refuses to start with them outside demo mode.
var DemoUsers = []Role{Admin, Commander, GridWorker, Sampler, Tracer, Viewer}

// DemoPassword is the published password of a demo user.
func DemoPassword(name string) string { return name + "-demo" }

// bcryptCost is bcrypt's default: ~50–80 ms per check here, enough to make guessing
// slow while a login stays interactive.
const bcryptCost = bcrypt.DefaultCost

// dummyHash is compared against when the user does not exist, so a login for an
// unknown name takes as long as one with a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("gridtrace-no-such-user"), bcryptCost)

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", Errorf(Invalid, "role", "%q is not a role", s)
}

// UpsertUser creates the user or resets its password, role and jurisdiction, in one
// transaction. Passwords shorter than 8 characters are refused.
func (s *Store) UpsertUser(ctx context.Context, name, password string, role Role, areaIDs []int64) (int64, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return 0, Errorf(Invalid, "name", "is required")
	}
	if len(password) < 8 {
		return 0, Errorf(Invalid, "password", "must be at least 8 characters")
	}
	if _, err := ParseRole(string(role)); err != nil {
		return 0, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return 0, fmt.Errorf("hash password: %w", err)
	}
	var id int64
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO users (name, password_hash, role) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role
			RETURNING id`, name, string(hash), string(role)).Scan(&id)
		if err != nil {
			return dbError("upsert user", err)
		}
		// A reset password or a changed role ends every open session of the user.
		if err := revokeSessions(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM user_areas WHERE user_id = $1`, id); err != nil {
			return dbError("clear user areas", err)
		}
		if len(areaIDs) > 0 {
			tag, err := tx.Exec(ctx, `INSERT INTO user_areas (user_id, area_id)
				SELECT $1, a.id FROM areas a WHERE a.id = ANY($2::bigint[])`, id, areaIDs)
			if err != nil {
				return dbError("set user areas", err)
			}
			if int(tag.RowsAffected()) != len(uniq(areaIDs)) {
				return Errorf(Invalid, "area_ids", "some areas do not exist")
			}
		}
		return nil
	})
	return id, err
}

func uniq(ids []int64) map[int64]bool {
	m := make(map[int64]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// Session is an open login: the token is shown once, only its hash is stored.
type Session struct {
	Token     string
	User      User
	ExpiresAt time.Time
}

// Login checks a name and password and opens a session lasting ttl. A wrong name or
// password is the same Unauthorized error, so names cannot be probed.
func (s *Store) Login(ctx context.Context, name, password string, ttl time.Duration) (Session, error) {
	var id int64
	var hash string
	var disabled bool
	err := s.pool.QueryRow(ctx, `SELECT id, password_hash, disabled FROM users WHERE name = $1`, name).Scan(&id, &hash, &disabled)
	if errors.Is(err, pgx.ErrNoRows) {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return Session{}, Errorf(Unauthorized, "", "wrong name or password")
	}
	if err != nil {
		return Session{}, dbError("load user", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil || disabled {
		return Session{}, Errorf(Unauthorized, "", "wrong name or password")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Session{}, fmt.Errorf("session token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(token))
	expires := time.Now().Add(ttl)
	if _, err := s.pool.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)`,
		sum[:], id, expires); err != nil {
		return Session{}, dbError("open session", err)
	}
	u, err := s.user(ctx, id)
	if err != nil {
		return Session{}, err
	}
	return Session{Token: token, User: u, ExpiresAt: expires}, nil
}

// SessionUser returns the user of a live session; an unknown, expired, revoked or
// idle token (unused for longer than idle; 0 means no idle limit) is Unauthorized.
// A live session's last use is recorded at most once a minute.
func (s *Store) SessionUser(ctx context.Context, token string, idle time.Duration) (User, error) {
	if token == "" {
		return User{}, Errorf(Unauthorized, "", "login required")
	}
	sum := sha256.Sum256([]byte(token))
	var id int64
	var seen time.Time
	err := s.pool.QueryRow(ctx, `
		SELECT s.user_id, s.last_seen_at FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND NOT u.disabled
		  AND ($2::bigint = 0 OR s.last_seen_at > now() - make_interval(secs => $2::bigint))`,
		sum[:], int64(idle/time.Second)).Scan(&id, &seen)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, Errorf(Unauthorized, "", "session expired or unknown; log in again")
	}
	if err != nil {
		return User{}, dbError("load session", err)
	}
	if time.Since(seen) > time.Minute {
		if _, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen_at = now() WHERE token_hash = $1`, sum[:]); err != nil {
			return User{}, dbError("touch session", err)
		}
	}
	return s.user(ctx, id)
}

// Logout revokes the session of token; revoking an unknown token is not an error.
func (s *Store) Logout(ctx context.Context, token string) error {
	sum := sha256.Sum256([]byte(token))
	if _, err := s.pool.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL`, sum[:]); err != nil {
		return dbError("revoke session", err)
	}
	return nil
}

func (s *Store) user(ctx context.Context, id int64) (User, error) {
	var u User
	var role string
	err := s.pool.QueryRow(ctx, `
		SELECT u.id, u.name, u.role, COALESCE(array_agg(ua.area_id ORDER BY ua.area_id) FILTER (WHERE ua.area_id IS NOT NULL), '{}')
		FROM users u LEFT JOIN user_areas ua ON ua.user_id = u.id
		WHERE u.id = $1 GROUP BY u.id`, id).Scan(&u.ID, &u.Name, &role, &u.AreaIDs)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, Errorf(NotFound, "", "user %d not found", id)
	}
	if err != nil {
		return User{}, dbError("load user", err)
	}
	u.Role = Role(role)
	return u, nil
}

// DemoPasswordsPresent lists the demo users whose password is still the published
// "<name>-demo".
func (s *Store) DemoPasswordsPresent(ctx context.Context) ([]string, error) {
	names := make([]string, len(DemoUsers))
	for i, r := range DemoUsers {
		names[i] = string(r)
	}
	rows, err := s.pool.Query(ctx, `SELECT name, password_hash FROM users WHERE name = ANY($1)`, names)
	if err != nil {
		return nil, dbError("list demo users", err)
	}
	type row struct{ name, hash string }
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.name, &x.hash)
	})
	if err != nil {
		return nil, dbError("list demo users", err)
	}
	var out []string
	for _, x := range found {
		if bcrypt.CompareHashAndPassword([]byte(x.hash), []byte(DemoPassword(x.name))) == nil {
			out = append(out, x.name)
		}
	}
	return out, nil
}

// UserReaders are the roles that list users: admin, and command staff choosing the
// samplers of a door-to-door team.
func UserReaders() []Role { return []Role{Admin, Commander} }

// UserSummary is a user as listed to admin and command staff: never a password hash.
type UserSummary struct {
	ID       int64
	Name     string
	Role     Role
	AreaIDs  []int64
	Disabled bool
}

// ListUsers lists the users c may assign work to, by name, of role when not "".
// Admin sees every user. Anyone else (UserReaders only, else Forbidden) sees the
// users whose jurisdiction lies inside theirs: every area of the user is one of the
// caller's areas or below one. Users outside, users without areas and admins (whose
// jurisdiction is everything) are simply absent. Errors: Invalid naming role.
func (s *Store) ListUsers(ctx context.Context, c Caller, role Role) ([]UserSummary, error) {
	if err := requireRoleIn(c.User, UserReaders()); err != nil {
		return nil, err
	}
	if role != "" {
		if _, err := ParseRole(string(role)); err != nil {
			return nil, err
		}
	}
	var w where
	if role != "" {
		w.add("u.role = ?", string(role))
	}
	having := ""
	if !seesAll(c.User) {
		w.add("u.role <> 'admin'")
		// bool_and over the user's areas: every one inside; count > 0: a user with no
		// area has no jurisdiction to lie inside ours.
		having = " HAVING count(ua.area_id) > 0 AND bool_and(ua.area_id IN (SELECT id FROM areas WHERE ancestors && " +
			w.arg(userAreas(c.User)) + "::bigint[]))"
	}
	rows, err := s.pool.Query(ctx, `
		SELECT u.id, u.name, u.role, u.disabled,
		       COALESCE(array_agg(ua.area_id ORDER BY ua.area_id) FILTER (WHERE ua.area_id IS NOT NULL), '{}')
		FROM users u LEFT JOIN user_areas ua ON ua.user_id = u.id`+w.sql()+`
		GROUP BY u.id`+having+` ORDER BY u.name, u.id`, w.args...)
	if err != nil {
		return nil, dbError("list users", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UserSummary, error) {
		var x UserSummary
		var role string
		err := r.Scan(&x.ID, &x.Name, &role, &x.Disabled, &x.AreaIDs)
		x.Role = Role(role)
		return x, err
	})
	if err != nil {
		return nil, dbError("list users", err)
	}
	return out, nil
}
