package grid

import (
	"context"
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
