package api_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"sort"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/grid"
)

// gridFixture is the API on ../grid/testdata/jurisdiction.sql (district 1 > street 2
// > communities 3, 4; street 5 > community 6; household 5 and case 3 in no area) with
// one logged-in user per jurisdiction case.
type gridFixture struct {
	url    string
	store  *grid.Store
	pool   *pgxpool.Pool
	tokens map[string]string
	ids    map[string]int64
}

// fixtureUsers are the accounts of the fixture: name, role and jurisdiction.
var fixtureUsers = []struct {
	name  string
	role  grid.Role
	areas []int64
}{
	{"admin", grid.Admin, nil},
	{"viewer", grid.Viewer, []int64{1}},
	{"worker", grid.GridWorker, []int64{3}},
	{"worker6", grid.GridWorker, []int64{6}},
	{"sampler", grid.Sampler, []int64{3}},
	{"commander", grid.Commander, []int64{2}},
	{"tracer", grid.Tracer, []int64{1}},
}

func newGridFixture(t *testing.T) gridFixture {
	t.Helper()
	ts, store := testServer(t)
	pool := store.Pool()
	ctx := context.Background()
	sql, err := os.ReadFile("../grid/testdata/jurisdiction.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, string(sql)); err != nil {
		t.Fatalf("load fixture: %v", err)
	}
	for _, table := range []string{"households", "cases"} {
		rows, err := pool.Query(ctx, `SELECT id, ST_X(geom), ST_Y(geom) FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		pts := map[int64]orb.Point{}
		for rows.Next() {
			var id int64
			var p orb.Point
			if err := rows.Scan(&id, &p[0], &p[1]); err != nil {
				t.Fatal(err)
			}
			pts[id] = p
		}
		rows.Close()
		for id, p := range pts {
			r8, _ := geo.CellOf(p, 8)
			r12, _ := geo.CellOf(p, 12)
			if _, err := pool.Exec(ctx, `UPDATE `+table+` SET h3_r8 = $2, h3_r12 = $3 WHERE id = $1`, id, int64(r8), int64(r12)); err != nil {
				t.Fatal(err)
			}
		}
	}
	f := gridFixture{url: ts.URL, store: store, pool: pool, tokens: map[string]string{}, ids: map[string]int64{}}
	// Users and sessions are written directly: login is tested in auth_test.go, and
	// two bcrypt hashes per user would dominate these tests' time.
	for _, u := range fixtureUsers {
		var id int64
		if err := pool.QueryRow(ctx, `INSERT INTO users (name, password_hash, role) VALUES ($1, 'no-login', $2) RETURNING id`,
			u.name, string(u.role)).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO user_areas (user_id, area_id) SELECT $1, unnest($2::bigint[])`, id, u.areas); err != nil {
			t.Fatal(err)
		}
		token := "fixture-token-" + u.name
		sum := sha256.Sum256([]byte(token))
		if _, err := pool.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, now() + interval '1 hour')`,
			sum[:], id); err != nil {
			t.Fatal(err)
		}
		f.ids[u.name], f.tokens[u.name] = id, token
	}
	return f
}

// get fetches path as user and decodes the answer into out.
func (f gridFixture) get(t *testing.T, user, path string, out any) int {
	t.Helper()
	return do(t, "GET", f.url+path, f.tokens[user], "", out)
}

// features fetches a FeatureCollection, failing unless the answer is 200.
func (f gridFixture) features(t *testing.T, user, path string) *geojson.FeatureCollection {
	t.Helper()
	fc := geojson.NewFeatureCollection()
	if code := f.get(t, user, path, fc); code != http.StatusOK {
		t.Fatalf("%s GET %s: %d", user, path, code)
	}
	if fc.Type != "FeatureCollection" {
		t.Fatalf("%s: type %q", path, fc.Type)
	}
	return fc
}

// featureIDs lists the "id" property of each feature, sorted.
func featureIDs(fc *geojson.FeatureCollection) string {
	var ids []int
	for _, f := range fc.Features {
		ids = append(ids, int(f.Properties.MustFloat64("id")))
	}
	sort.Ints(ids)
	return fmt.Sprint(ids)
}

// wantError checks status, code and field of an error answer.
func wantError(t *testing.T, what string, code int, e apiError, status int, field string) {
	t.Helper()
	if code != status || e.Error.Field != field || e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("%s: %d %+v, want %d on field %q", what, code, e.Error, status, field)
	}
}

func (f gridFixture) auditRows(t *testing.T, user string) []auditRow {
	t.Helper()
	rows, err := f.pool.Query(context.Background(), `
		SELECT action, entity, COALESCE(entity_id, 0), route,
		       ARRAY(SELECT jsonb_array_elements_text(COALESCE(detail->'person_ids', '[]'))::bigint)
		FROM audit_log WHERE user_id = $1 ORDER BY id`, f.ids[user])
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		if err := rows.Scan(&r.action, &r.entity, &r.entityID, &r.route, &r.personIDs); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

type auditRow struct {
	action, entity, route string
	entityID              int64
	personIDs             []int64
}
