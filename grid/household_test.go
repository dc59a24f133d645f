package grid_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
)

// loadJurisdiction loads testdata/jurisdiction.sql into a fresh database and fills
// the H3 columns in Go.
func loadJurisdiction(t *testing.T) (*grid.Store, *pgxpool.Pool) {
	t.Helper()
	pool, _ := dbtest.New(t)
	ctx := context.Background()
	sql, err := os.ReadFile("testdata/jurisdiction.sql")
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
		type pt struct {
			id       int64
			lng, lat float64
		}
		var pts []pt
		for rows.Next() {
			var p pt
			if err := rows.Scan(&p.id, &p.lng, &p.lat); err != nil {
				t.Fatal(err)
			}
			pts = append(pts, p)
		}
		rows.Close()
		for _, p := range pts {
			r8, _ := geo.CellOf(orb.Point{p.lng, p.lat}, 8)
			r12, _ := geo.CellOf(orb.Point{p.lng, p.lat}, 12)
			if _, err := pool.Exec(ctx, `UPDATE `+table+` SET h3_r8 = $2, h3_r12 = $3 WHERE id = $1`, p.id, int64(r8), int64(r12)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return grid.NewStore(pool), pool
}

func caller(id int64, role grid.Role, areas ...int64) grid.Caller {
	return grid.Caller{User: grid.User{ID: id, Name: string(role), Role: role, AreaIDs: areas}, Route: "test"}
}

func householdIDs(p grid.HouseholdPage) []int64 {
	var ids []int64
	for _, h := range p.Households {
		ids = append(ids, h.ID)
	}
	return ids
}

func auditCount(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestListHouseholdsJurisdiction(t *testing.T) {
	t.Parallel()
	store, _ := loadJurisdiction(t)
	ctx := context.Background()
	// audit_log.user_id references users: the callers must exist.
	ids := map[grid.Role]int64{}
	for _, r := range []grid.Role{grid.Admin, grid.Viewer, grid.GridWorker, grid.Commander} {
		id, err := store.UpsertUser(ctx, string(r), grid.DemoPassword(string(r)), r, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids[r] = id
	}
	for _, tc := range []struct {
		name string
		c    grid.Caller
		f    grid.HouseholdFilter
		want string
	}{
		{"admin sees all, no-area included", caller(ids[grid.Admin], grid.Admin), grid.HouseholdFilter{}, "[1 2 3 4 5 6]"},
		{"district viewer", caller(ids[grid.Viewer], grid.Viewer, 1), grid.HouseholdFilter{}, "[1 2 3 4 6]"},
		{"community worker", caller(ids[grid.GridWorker], grid.GridWorker, 3), grid.HouseholdFilter{}, "[1 2]"},
		{"two communities", caller(ids[grid.GridWorker], grid.GridWorker, 3, 6), grid.HouseholdFilter{}, "[1 2 4]"},
		{"street commander, area filter on the street", caller(ids[grid.Commander], grid.Commander, 2), grid.HouseholdFilter{Area: 2}, "[1 2 3 6]"},
		{"worker filtering by the context street sees only their own", caller(ids[grid.GridWorker], grid.GridWorker, 3), grid.HouseholdFilter{Area: 2}, "[1 2]"},
		{"no areas, nothing", caller(ids[grid.Commander], grid.Commander), grid.HouseholdFilter{}, "[]"},
		{"bbox", caller(ids[grid.Admin], grid.Admin), grid.HouseholdFilter{BBox: &orb.Bound{Min: orb.Point{121.405, 31.105}, Max: orb.Point{121.465, 31.115}}}, "[1 3]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := store.ListHouseholds(ctx, tc.c, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(householdIDs(p)); got != tc.want {
				t.Fatalf("households %v, want %s", householdIDs(p), tc.want)
			}
			if p.Total != len(p.Households) {
				t.Fatalf("total %d for %d rows", p.Total, len(p.Households))
			}
		})
	}
	// An area the worker cannot see is NotFound, not an empty list.
	_, err := store.ListHouseholds(ctx, caller(ids[grid.GridWorker], grid.GridWorker, 3), grid.HouseholdFilter{Area: 4})
	var e *grid.Error
	if !errors.As(err, &e) || e.Kind != grid.NotFound || e.Field != "area" {
		t.Fatalf("area outside: %v", err)
	}
}

func TestListHouseholdsMasksAndAudits(t *testing.T) {
	t.Parallel()
	store, pool := loadJurisdiction(t)
	ctx := context.Background()
	gw, err := store.UpsertUser(ctx, "gw", "gw-password", grid.GridWorker, []int64{3})
	if err != nil {
		t.Fatal(err)
	}
	viewer, err := store.UpsertUser(ctx, "viewer", "viewer-password", grid.Viewer, []int64{1})
	if err != nil {
		t.Fatal(err)
	}

	p, err := store.ListHouseholds(ctx, caller(viewer, grid.Viewer, 1), grid.HouseholdFilter{WithPersons: true})
	if err != nil {
		t.Fatal(err)
	}
	first := p.Households[0].Persons[0]
	if first.Name != "张**" || first.Phone != "138****5678" || first.IDNumber != "310101********1234" || first.BirthDate.Month() != time.January || first.BirthDate.Day() != 1 {
		t.Fatalf("viewer sees %+v", first)
	}
	if n := auditCount(t, pool); n != 0 {
		t.Fatalf("masked read audited: %d rows", n)
	}

	p, err = store.ListHouseholds(ctx, grid.Caller{User: grid.User{ID: gw, Role: grid.GridWorker, AreaIDs: []int64{3}}, Route: "GET /x"},
		grid.HouseholdFilter{WithPersons: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Households[0].Persons[0]; got.Name != "张三丰" || got.Phone != "13812345678" || !p.Households[0].Shown.Any() {
		t.Fatalf("grid worker sees %+v", got)
	}
	var action, entity, route string
	var user int64
	var personIDs []int64
	err = pool.QueryRow(ctx, `SELECT user_id, action, entity, route,
		ARRAY(SELECT jsonb_array_elements_text(detail->'person_ids')::bigint) FROM audit_log`).Scan(&user, &action, &entity, &route, &personIDs)
	if err != nil {
		t.Fatal(err)
	}
	if user != gw || action != grid.AuditReadPerson || entity != "person" || route != "GET /x" || fmt.Sprint(personIDs) != "[1 2 3]" {
		t.Fatalf("audit row: %d %s %s %s %v", user, action, entity, route, personIDs)
	}
	// Without persons nothing personal is read, so nothing is logged.
	if _, err := store.ListHouseholds(ctx, caller(gw, grid.GridWorker, 3), grid.HouseholdFilter{}); err != nil {
		t.Fatal(err)
	}
	if n := auditCount(t, pool); n != 1 {
		t.Fatalf("audit rows %d, want 1", n)
	}
}

func TestListHouseholdsPages(t *testing.T) {
	t.Parallel()
	store, _ := loadJurisdiction(t)
	ctx := context.Background()
	admin := caller(0, grid.Admin)
	var seen []int64
	for off := 0; ; off += 4 {
		p, err := store.ListHouseholds(ctx, admin, grid.HouseholdFilter{Page: grid.Page{Limit: 4, Offset: off}})
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != 6 {
			t.Fatalf("offset %d: total %d", off, p.Total)
		}
		if len(p.Households) == 0 {
			break
		}
		seen = append(seen, householdIDs(p)...)
	}
	if fmt.Sprint(seen) != "[1 2 3 4 5 6]" {
		t.Fatalf("pages gave %v", seen)
	}
	if _, err := store.ListHouseholds(ctx, admin, grid.HouseholdFilter{Page: grid.Page{Limit: 1001}}); grid.KindOf(err) != grid.Invalid {
		t.Fatalf("limit 1001: %v", err)
	}
}

func TestHouseholdEditValidate(t *testing.T) {
	t.Parallel()
	now := time.Date(2022, 4, 4, 0, 0, 0, 0, time.UTC)
	good := grid.HouseholdEdit{Address: " 一社区3号 ", Location: orb.Point{121.41, 31.11},
		Persons: []grid.PersonEdit{{Name: " 张三 ", Phone: "138-1234 5678", IDNumber: "31010119900102123x", Vulnerability: []grid.Vulnerability{"disabled", "disabled"}}}}
	got, err := good.Validate(now)
	if err != nil {
		t.Fatal(err)
	}
	p := got.Persons[0]
	if got.Address != "一社区3号" || p.Name != "张三" || p.Phone != "13812345678" || p.IDNumber != "31010119900102123X" ||
		p.Status != "normal" || p.HealthCode != "green" || len(p.Vulnerability) != 1 {
		t.Fatalf("normalised %+v %+v", got, p)
	}
	future := now.AddDate(0, 0, 1)
	for _, tc := range []struct {
		name  string
		edit  func(*grid.HouseholdEdit)
		field string
	}{
		{"no address", func(e *grid.HouseholdEdit) { e.Address = "  " }, "address"},
		{"long address", func(e *grid.HouseholdEdit) { e.Address = strings.Repeat("路", 201) }, "address"},
		{"lng", func(e *grid.HouseholdEdit) { e.Location = orb.Point{181, 31} }, "lng"},
		{"lat", func(e *grid.HouseholdEdit) { e.Location = orb.Point{121, -91} }, "lat"},
		{"empty flag", func(e *grid.HouseholdEdit) { e.Flags = []string{"ok", " "} }, "flags[1]"},
		{"person name", func(e *grid.HouseholdEdit) { e.Persons[0].Name = "" }, "persons[0].name"},
		{"phone", func(e *grid.HouseholdEdit) { e.Persons[0].Phone = "call me" }, "persons[0].phone"},
		{"id number", func(e *grid.HouseholdEdit) { e.Persons[0].IDNumber = "31-01" }, "persons[0].id_number"},
		{"birth date", func(e *grid.HouseholdEdit) { e.Persons[0].BirthDate = &future }, "persons[0].birth_date"},
		{"sex", func(e *grid.HouseholdEdit) { e.Persons[0].Sex = "X" }, "persons[0].sex"},
		{"status", func(e *grid.HouseholdEdit) { e.Persons[0].Status = "sick" }, "persons[0].status"},
		{"health code", func(e *grid.HouseholdEdit) { e.Persons[0].HealthCode = "blue" }, "persons[0].health_code"},
		{"vulnerability", func(e *grid.HouseholdEdit) { e.Persons[0].Vulnerability = []grid.Vulnerability{"rich"} }, "persons[0].vulnerability[0]"},
		{"duplicate id", func(e *grid.HouseholdEdit) {
			e.Persons = []grid.PersonEdit{{ID: 4, Name: "a"}, {ID: 4, Name: "b"}}
		}, "persons[1].id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := good
			e.Persons = append([]grid.PersonEdit(nil), good.Persons...)
			tc.edit(&e)
			_, err := e.Validate(now)
			var de *grid.Error
			if !errors.As(err, &de) || de.Kind != grid.Invalid || de.Field != tc.field {
				t.Fatalf("got %v, want Invalid on %s", err, tc.field)
			}
		})
	}
}

func TestCreateAndUpdateHousehold(t *testing.T) {
	t.Parallel()
	store, pool := loadJurisdiction(t)
	ctx := context.Background()
	gwID, err := store.UpsertUser(ctx, "gw", "gw-password", grid.GridWorker, []int64{3})
	if err != nil {
		t.Fatal(err)
	}
	gw := grid.Caller{User: grid.User{ID: gwID, Role: grid.GridWorker, AreaIDs: []int64{3}}, Route: "test"}
	admin := caller(0, grid.Admin)

	// The finest containing area wins: community over street over district.
	for _, tc := range []struct {
		p    orb.Point
		area int64
	}{{orb.Point{121.43, 31.13}, 3}, {orb.Point{121.48, 31.18}, 2}, {orb.Point{121.58, 31.28}, 1}, {orb.Point{122, 32}, 0}} {
		h, err := store.CreateHousehold(ctx, admin, grid.HouseholdEdit{Address: "x", Location: tc.p})
		if err != nil {
			t.Fatal(err)
		}
		if h.AreaID != tc.area {
			t.Errorf("point %v assigned to %d, want %d", tc.p, h.AreaID, tc.area)
		}
		want8, _ := geo.CellOf(tc.p, 8)
		want12, _ := geo.CellOf(tc.p, 12)
		if h.H3R8 != want8 || h.H3R12 != want12 {
			t.Errorf("cells %s %s, want %s %s", h.H3R8, h.H3R12, want8, want12)
		}
	}

	h, err := store.CreateHousehold(ctx, gw, grid.HouseholdEdit{Address: "一社区9号", Location: orb.Point{121.44, 31.14},
		Persons: []grid.PersonEdit{{Name: "甲"}, {Name: "乙"}}})
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != 1 || len(h.Persons) != 2 || h.AreaID != 3 {
		t.Fatalf("created %+v", h)
	}
	var kind, entity string
	var area int64
	var bbox []float64
	if err := pool.QueryRow(ctx, `SELECT kind, entity, area_id, bbox FROM changes WHERE entity_id = $1`, h.ID).Scan(&kind, &entity, &area, &bbox); err != nil {
		t.Fatalf("change row: %v", err)
	}
	if kind != "upsert" || entity != "household" || area != 3 || fmt.Sprint(bbox) != "[121.44 31.14 121.44 31.14]" {
		t.Fatalf("change %s %s %d %v", kind, entity, area, bbox)
	}

	if _, err := store.CreateHousehold(ctx, gw, grid.HouseholdEdit{Address: "x", Location: orb.Point{121.46, 31.11}}); grid.KindOf(err) != grid.Forbidden {
		t.Fatalf("create outside jurisdiction: %v", err)
	}
	if _, err := store.CreateHousehold(ctx, caller(0, grid.Sampler, 3), grid.HouseholdEdit{Address: "x", Location: orb.Point{121.41, 31.11}}); grid.KindOf(err) != grid.Forbidden {
		t.Fatalf("create by sampler: %v", err)
	}

	// Update: keep 甲 (renamed), drop 乙, add 丙.
	edit := grid.HouseholdEdit{Address: "一社区9号", Location: orb.Point{121.44, 31.14}, Version: 1, ReplacePersons: true,
		Persons: []grid.PersonEdit{{ID: h.Persons[0].ID, Name: "甲甲"}, {Name: "丙"}}}
	h2, err := store.UpdateHousehold(ctx, gw, h.ID, edit)
	if err != nil {
		t.Fatal(err)
	}
	if h2.Version != 2 || len(h2.Persons) != 2 || h2.Persons[0].Name != "甲甲" || h2.Persons[0].Version != 2 || h2.Persons[1].Name != "丙" {
		t.Fatalf("updated %+v", h2)
	}
	// The same edit again is stale.
	_, err = store.UpdateHousehold(ctx, gw, h.ID, edit)
	var de *grid.Error
	if !errors.As(err, &de) || de.Kind != grid.Conflict || !strings.Contains(de.Message, "current version is 2") {
		t.Fatalf("stale update: %v", err)
	}
	// Without persons the residents stay; an unchanged resident keeps its version.
	edit = grid.HouseholdEdit{Address: "一社区9号甲", Location: orb.Point{121.44, 31.14}, Version: 2}
	h3, err := store.UpdateHousehold(ctx, gw, h.ID, edit)
	if err != nil || len(h3.Persons) != 2 || h3.Persons[0].Version != 2 || h3.Address != "一社区9号甲" {
		t.Fatalf("update keeping persons: %+v %v", h3, err)
	}
	// Moving out of the jurisdiction is refused; a household outside it is unknown.
	edit = grid.HouseholdEdit{Address: "x", Location: orb.Point{121.46, 31.11}, Version: 3}
	if _, err := store.UpdateHousehold(ctx, gw, h.ID, edit); grid.KindOf(err) != grid.Forbidden {
		t.Fatalf("move outside: %v", err)
	}
	edit.Version = 1
	if _, err := store.UpdateHousehold(ctx, gw, 3, edit); grid.KindOf(err) != grid.NotFound {
		t.Fatalf("update outside: %v", err)
	}
	// Removing a resident who is a case is a conflict, not a 500.
	edit = grid.HouseholdEdit{Address: "一社区1号", Location: orb.Point{121.41, 31.11}, Version: 1, ReplacePersons: true, Persons: []grid.PersonEdit{}}
	if _, err := store.UpdateHousehold(ctx, gw, 1, edit); grid.KindOf(err) != grid.Conflict {
		t.Fatalf("remove case person: %v", err)
	}
	// A resident of another household cannot be edited through this one.
	edit.Persons = []grid.PersonEdit{{ID: 4, Name: "x"}}
	if _, err := store.UpdateHousehold(ctx, gw, 1, edit); grid.KindOf(err) != grid.Invalid {
		t.Fatalf("foreign person: %v", err)
	}
	var audits int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = $1 AND user_id = $2`, grid.AuditWriteHousehold, gwID).Scan(&audits); err != nil || audits != 3 {
		t.Fatalf("write audits %d %v, want 3", audits, err)
	}
}
