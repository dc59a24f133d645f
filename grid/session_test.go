package grid_test

import (
	"context"
	"testing"
	"time"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

// TestLiveSessions: one call answers for every key which sessions are open (not
// revoked, expired or of a disabled user), and records the use of the open ones,
// so an idle limit does not end a session whose live map is open.
func TestLiveSessions(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t)
	s := grid.NewStore(pool)
	ctx := context.Background()
	admin := grid.Caller{User: grid.User{ID: 0, Name: "root", Role: grid.Admin}}
	ids := map[string]int64{}
	for _, name := range []string{"wall", "gone", "off", "old"} {
		id, err := s.UpsertUser(ctx, name, grid.DemoPassword(name), grid.Viewer, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = id
	}
	keys := map[string]string{}
	for _, name := range []string{"wall", "gone", "off", "old"} {
		sess, err := s.Login(ctx, name, grid.DemoPassword(name), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = grid.SessionKey(sess.Token)
		if name == "wall" {
			// Unused for two hours, as far as the REST API knows.
			if _, err := pool.Exec(ctx, `UPDATE sessions SET last_seen_at = now() - interval '2 hours' WHERE user_id = $1`, ids[name]); err != nil {
				t.Fatal(err)
			}
			if _, err := s.SessionUser(ctx, sess.Token, time.Hour); err == nil {
				t.Fatal("a session idle for two hours passed a one-hour idle limit")
			}
			defer func(token string) {
				// After the live check it counts as used just now.
				if u, err := s.SessionUser(ctx, token, time.Hour); err != nil || u.ID != ids["wall"] {
					t.Errorf("the live session after the check: %+v %v", u, err)
				}
			}(sess.Token)
		}
	}
	if _, err := s.RevokeSessions(ctx, admin, ids["gone"]); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserDisabled(ctx, admin, ids["off"], true); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1`, ids["old"]); err != nil {
		t.Fatal(err)
	}
	open, err := s.LiveSessions(ctx, []string{keys["wall"], keys["gone"], keys["off"], keys["old"], grid.SessionKey("unknown"), "not hex"})
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || !open[keys["wall"]] {
		t.Fatalf("open sessions %v, want only wall's %s", open, keys["wall"])
	}
}
