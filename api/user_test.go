package api_test

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

type userRow struct {
	ID       int64   `json:"id"`
	Name     string  `json:"name"`
	Role     string  `json:"role"`
	AreaIDs  []int64 `json:"area_ids"`
	Disabled bool    `json:"disabled"`
}

type userListAnswer struct {
	Users []userRow `json:"users"`
}

func (a userListAnswer) names() []string {
	var out []string
	for _, u := range a.Users {
		out = append(out, u.Name)
	}
	slices.Sort(out)
	return out
}

// TestUserList: admin lists every user; a commander lists the users whose whole
// jurisdiction lies inside theirs (their own area or below), so one of street 2 sees
// the samplers of communities 3 and 4 but not those of street 5, nor one holding
// community 3 and community 6, nor users without areas or admins; ?role= narrows by
// role; disabled users are listed as such; no password hash is ever answered; other
// roles get 403.
func TestUserList(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	f.addUser(t, "s4", "sampler", []int64{4})
	f.addUser(t, "s6", "sampler", []int64{6})
	f.addUser(t, "s36", "sampler", []int64{3, 6})
	f.addUser(t, "s-none", "sampler", nil)
	f.addUser(t, "s3-off", "sampler", []int64{3})
	f.addUser(t, "commander3", "commander", []int64{3})
	f.exec(t, `UPDATE users SET disabled = true WHERE name = 's3-off'`)

	for _, tc := range []struct {
		user, query string
		want        []string
	}{
		{"admin", "", []string{"admin", "commander", "commander3", "s-none", "s3-off", "s36", "s4", "s6", "sampler", "tracer", "viewer", "worker", "worker6"}},
		{"admin", "?role=sampler", []string{"s-none", "s3-off", "s36", "s4", "s6", "sampler"}},
		{"commander", "", []string{"commander", "commander3", "s3-off", "s4", "sampler", "worker"}},
		{"commander", "?role=sampler", []string{"s3-off", "s4", "sampler"}},
		{"commander3", "?role=sampler", []string{"s3-off", "sampler"}},
		{"commander3", "?role=viewer", nil},
	} {
		var ans userListAnswer
		if code := f.get(t, tc.user, "/api/v1/users"+tc.query, &ans); code != http.StatusOK {
			t.Fatalf("%s GET /users%s: %d", tc.user, tc.query, code)
		}
		if got := ans.names(); !slices.Equal(got, tc.want) {
			t.Errorf("%s GET /users%s: %v, want %v", tc.user, tc.query, got, tc.want)
		}
		for _, u := range ans.Users {
			if u.ID != f.ids[u.Name] {
				t.Errorf("%s: user %s has id %d, want %d", tc.user, u.Name, u.ID, f.ids[u.Name])
			}
			if u.Disabled != (u.Name == "s3-off") {
				t.Errorf("%s: user %s disabled %v", tc.user, u.Name, u.Disabled)
			}
			if tc.query == "?role=sampler" && u.Role != "sampler" {
				t.Errorf("%s: ?role=sampler lists %s, a %s", tc.user, u.Name, u.Role)
			}
		}
		if tc.user == "commander" && tc.query == "" {
			i := slices.IndexFunc(ans.Users, func(u userRow) bool { return u.Name == "s4" })
			if i < 0 || !slices.Equal(ans.Users[i].AreaIDs, []int64{4}) || ans.Users[i].Role != "sampler" {
				t.Errorf("commander's list: s4 as %+v, want a sampler of area 4", ans.Users)
			}
		}
	}

	// The raw answer carries no password hash (the fixture's hash is "no-login").
	req, _ := http.NewRequest("GET", f.url+"/api/v1/users", nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens["admin"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(raw), "no-login") || strings.Contains(string(raw), "password") {
		t.Errorf("the user list shows password hashes: %s", raw)
	}

	for _, user := range []string{"viewer", "sampler", "worker", "tracer"} {
		var e apiError
		code := f.get(t, user, "/api/v1/users?role=sampler", &e)
		wantError(t, user+" lists users", code, e, http.StatusForbidden, "")
	}
	var e apiError
	code := f.get(t, "admin", "/api/v1/users?role=chief", &e)
	wantError(t, "an unknown role", code, e, http.StatusBadRequest, "role")
	if code := do(t, "GET", f.url+"/api/v1/users", "", "", nil); code != http.StatusUnauthorized {
		t.Errorf("anonymous user list: %d", code)
	}
}
