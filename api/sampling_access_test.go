package api_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"testing"
)

// addUser adds an account with a jurisdiction and a session to the fixture.
func (f gridFixture) addUser(t *testing.T, name, role string, areas []int64) {
	t.Helper()
	ctx := context.Background()
	var id int64
	if err := f.pool.QueryRow(ctx, `INSERT INTO users (name, password_hash, role) VALUES ($1, 'no-login', $2) RETURNING id`, name, role).Scan(&id); err != nil {
		t.Fatal(err)
	}
	f.exec(t, `INSERT INTO user_areas (user_id, area_id) SELECT $1, unnest($2::bigint[])`, id, areas)
	token := "fixture-token-" + name
	sum := sha256.Sum256([]byte(token))
	f.exec(t, `INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, now() + interval '1 hour')`, sum[:], id)
	f.ids[name], f.tokens[name] = id, token
}

type sharedPlan struct {
	Teams []struct {
		Team  string `json:"team"`
		Route any    `json:"route"`
		Stops []struct {
			HouseholdID int64 `json:"household_id"`
		} `json:"stops"`
	} `json:"teams"`
	Unassigned []int64 `json:"unassigned"`
}

// TestSamplingSharedRound: a round of street 2 reaches communities 3 and 4. The
// commander of community 3 sees it, but only their part: team lines that call at
// community 4's door-to-door households (bed-ridden, sealed or isolated homes) are
// withheld, unassigned households and pools of community 4 are left out, a pool
// of community 4 cannot be reported, and the round-wide writes (closing, replacing
// the routes) belong to whoever holds the whole street.
func TestSamplingSharedRound(t *testing.T) {
	t.Parallel()
	f := samplingFixture(t)
	f.addUser(t, "commander3", "commander", []int64{3})
	var r roundAnswer
	if code := f.send(t, "admin", "POST", "/api/v1/sampling/rounds", `{"name":"甲街道全员核酸","area_id":2,"date":"2022-04-10"}`, &r); code != http.StatusCreated {
		t.Fatalf("create round: %d", code)
	}
	base := fmt.Sprintf("/api/v1/sampling/rounds/%d", r.ID)
	// Two teams with short shifts: one starting in community 3, one in 4; some
	// households of each are left unassigned.
	var admin sharedPlan
	if code := f.send(t, "admin", "POST", base+"/routes", `{"teams":[{"name":"A","depot":{"lng":121.41,"lat":31.11},"shift_minutes":40},
		{"name":"B","depot":{"lng":121.47,"lat":31.12},"shift_minutes":40}],"seed":1,"budget_ms":200}`, &admin); code != http.StatusCreated {
		t.Fatalf("plan routes: %d", code)
	}
	inside := func(h int64) bool { return h == 1 || h == 2 || (h >= 300 && h < 320) }
	outsideUnassigned := slices.ContainsFunc(admin.Unassigned, func(h int64) bool { return !inside(h) })
	if len(admin.Teams) != 2 || !outsideUnassigned {
		t.Fatalf("admin's plan %+v: want two teams and unassigned households of community 4", admin)
	}
	var mine sharedPlan
	if code := f.get(t, "commander3", base+"/routes", &mine); code != http.StatusOK || len(mine.Teams) != 2 {
		t.Fatalf("commander3 routes: %d %+v", code, mine)
	}
	hidden := 0
	for i, tm := range mine.Teams {
		for _, s := range tm.Stops {
			if !inside(s.HouseholdID) {
				t.Errorf("team %s: stop at household %d outside community 3", tm.Team, s.HouseholdID)
			}
		}
		whole := len(tm.Stops) == len(admin.Teams[i].Stops)
		if (tm.Route != nil) != whole {
			t.Errorf("team %s: %d of %d stops shown, line shown %v: want the line only with every stop", tm.Team, len(tm.Stops), len(admin.Teams[i].Stops), tm.Route != nil)
		}
		if !whole {
			hidden++
		}
	}
	if hidden == 0 {
		t.Fatalf("no team calls outside community 3: the test proves nothing (%+v)", admin)
	}
	for _, h := range mine.Unassigned {
		if !inside(h) {
			t.Errorf("unassigned household %d of community 4 shown to community 3", h)
		}
	}

	// Pools: one of community 3 (household 300), one of community 4 (household 325).
	for _, s := range []string{`{"person_id":400,"tube_id":"T-300","pool_id":"P-3"}`, `{"person_id":425,"tube_id":"T-325","pool_id":"P-4"}`} {
		if code := f.send(t, "admin", "POST", base+"/swabs", s, nil); code != http.StatusCreated {
			t.Fatalf("swab %s: %d", s, code)
		}
	}
	pools := func(user string) []string {
		var ans struct {
			Pools []struct {
				ID string `json:"id"`
			} `json:"pools"`
		}
		if code := f.get(t, user, base+"/pools", &ans); code != http.StatusOK {
			t.Fatalf("%s pools: %d", user, code)
		}
		var ids []string
		for _, p := range ans.Pools {
			ids = append(ids, p.ID)
		}
		return ids
	}
	if got := fmt.Sprint(pools("commander3")); got != "[P-3]" {
		t.Errorf("commander3 sees pools %s, want [P-3]", got)
	}
	if got := fmt.Sprint(pools("commander")); got != "[P-3 P-4]" {
		t.Errorf("the street's commander sees pools %s, want [P-3 P-4]", got)
	}
	var e apiError
	code := f.send(t, "commander3", "POST", "/api/v1/sampling/pools/P-4/result", `{"result":"positive"}`, &e)
	wantError(t, "commander3 reports community 4's pool", code, e, http.StatusNotFound, "pool_id")
	if code := f.send(t, "commander3", "POST", "/api/v1/sampling/pools/P-3/result", `{"result":"negative"}`, nil); code != http.StatusOK {
		t.Errorf("commander3 reports community 3's pool: %d", code)
	}

	// Round-wide writes.
	before := f.samplingCounts(t)
	e = apiError{}
	code = f.send(t, "commander3", "POST", base+"/routes", `{"teams":[{"name":"C","depot":{"lng":121.41,"lat":31.11}}],"seed":1,"budget_ms":50}`, &e)
	wantError(t, "commander3 replaces the street's routes", code, e, http.StatusForbidden, "id")
	e = apiError{}
	code = f.send(t, "commander3", "POST", base+"/close", "", &e)
	wantError(t, "commander3 closes the street's round", code, e, http.StatusForbidden, "id")
	if after := f.samplingCounts(t); after != before {
		t.Errorf("refused writes wrote: %s, then %s", before, after)
	}
	var again sharedPlan
	if f.get(t, "admin", base+"/routes", &again); fmt.Sprint(again) != fmt.Sprint(admin) {
		t.Errorf("routes changed after a refused replan")
	}
	if code := f.send(t, "commander", "POST", base+"/close", "", nil); code != http.StatusOK {
		t.Errorf("the street's commander closes the round: %d", code)
	}
}
