package grid

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"
)

// Audit actions of account administration: who ended whose sessions, and why.
const (
	AuditRevokeSessions = "revoke_sessions"
	AuditSetPassword    = "set_password"
	AuditDisableUser    = "disable_user"
	AuditEnableUser     = "enable_user"
)

// revokeSessions ends every open session of user id inside tx.
func revokeSessions(ctx context.Context, tx pgx.Tx, id int64) error {
	if _, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, id); err != nil {
		return dbError("revoke sessions", err)
	}
	return nil
}

// userExists locks user id for the change of its account, or is NotFound.
func userExists(ctx context.Context, tx pgx.Tx, id int64) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return Errorf(NotFound, "id", "user %d not found", id)
	}
	if err != nil {
		return dbError("load user", err)
	}
	return nil
}

// RevokeSessions ends every open session of user id (admin only: Forbidden
// otherwise; NotFound for an unknown user) and returns how many were open; the
// revocation is audited.
func (s *Store) RevokeSessions(ctx context.Context, c Caller, id int64) (int, error) {
	if c.User.Role != Admin {
		return 0, Errorf(Forbidden, "", "only admin may end other users' sessions")
	}
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := userExists(ctx, tx, id); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()`, id)
		if err != nil {
			return dbError("revoke sessions", err)
		}
		n = int(tag.RowsAffected())
		return appendAudit(ctx, tx, c, AuditRevokeSessions, "user", id, map[string]any{"sessions": n})
	})
	return n, err
}

// SetUserDisabled disables (or enables) user id, admin only; disabling ends every
// session of the user at once. An admin cannot disable themselves (Invalid), so the
// last admin cannot lock everyone out by accident.
func (s *Store) SetUserDisabled(ctx context.Context, c Caller, id int64, disabled bool) error {
	if c.User.Role != Admin {
		return Errorf(Forbidden, "", "only admin may disable users")
	}
	if disabled && id == c.User.ID {
		return Errorf(Invalid, "id", "you cannot disable yourself")
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := userExists(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET disabled = $2 WHERE id = $1`, id, disabled); err != nil {
			return dbError("disable user", err)
		}
		action := AuditEnableUser
		if disabled {
			action = AuditDisableUser
			if err := revokeSessions(ctx, tx, id); err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, c, action, "user", id, map[string]any{})
	})
}

// ChangePassword sets the caller's own password after checking the current one
// (Unauthorized when wrong, Invalid under 8 characters) and ends every session of
// the caller, this one included: whoever learnt the old password is logged out too.
func (s *Store) ChangePassword(ctx context.Context, c Caller, current, next string) error {
	if len(next) < 8 {
		return Errorf(Invalid, "new_password", "must be at least 8 characters")
	}
	var hash string
	if err := s.pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, c.User.ID).Scan(&hash); err != nil {
		return dbError("load user", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(current)) != nil {
		return Errorf(Unauthorized, "current_password", "is wrong")
	}
	nh, err := bcrypt.GenerateFromPassword([]byte(next), bcryptCost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, c.User.ID, string(nh)); err != nil {
			return dbError("set password", err)
		}
		if err := revokeSessions(ctx, tx, c.User.ID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, c, AuditSetPassword, "user", c.User.ID, map[string]any{})
	})
}

// SessionKey names the session of token for the live hub: the hex SHA-256 the
// sessions table stores, so the token itself never has to be kept.
func SessionKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// LiveSessions returns which of keys (SessionKey values) name a session still open:
// not revoked, not expired, its user not disabled. It is one query for every key,
// so the live hub re-checks all its clients at once. The idle limit is not applied:
// an open live connection is use, and the query records it as such (last_seen_at,
// at most once a minute), so a map left open stays logged in until the session's
// absolute lifetime ends. Keys that are not hex are simply not open.
func (s *Store) LiveSessions(ctx context.Context, keys []string) (map[string]bool, error) {
	hashes := make([][]byte, 0, len(keys))
	for _, k := range keys {
		if b, err := hex.DecodeString(k); err == nil {
			hashes = append(hashes, b)
		}
	}
	open := make(map[string]bool, len(hashes))
	if len(hashes) == 0 {
		return open, nil
	}
	rows, err := s.pool.Query(ctx, `
		WITH open AS (
			SELECT s.token_hash, s.last_seen_at FROM sessions s JOIN users u ON u.id = s.user_id
			WHERE s.token_hash = ANY($1) AND s.revoked_at IS NULL AND s.expires_at > now() AND NOT u.disabled
		), touched AS (
			UPDATE sessions SET last_seen_at = now()
			WHERE token_hash IN (SELECT token_hash FROM open WHERE last_seen_at < now() - interval '1 minute')
		)
		SELECT token_hash FROM open`, hashes)
	if err != nil {
		return nil, dbError("check live sessions", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return nil, dbError("check live sessions", err)
		}
		open[hex.EncodeToString(h)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("check live sessions", err)
	}
	return open, nil
}
