package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

type estimatePlan struct {
	Teams []struct {
		Stops []struct {
			HouseholdID int64 `json:"household_id"`
		} `json:"stops"`
	} `json:"teams"`
	Unassigned      []int64 `json:"unassigned"`
	UnassignedCount int     `json:"unassigned_count"`
	Estimate        *struct {
		TeamsPlanned int     `json:"teams_planned"`
		Unassigned   int     `json:"unassigned"`
		Unreachable  int     `json:"unreachable"`
		ShiftMinutes float64 `json:"shift_minutes"`
		WorkMinutes  float64 `json:"work_minutes"`
		TeamsNeeded  int     `json:"teams_needed"`
		Verified     bool    `json:"verified"`
	} `json:"estimate"`
}

// TestSamplingRoutesEstimate: one team of 150 minutes for street 2's 31 door-to-door
// households (5 minutes a door, 10 km across) leaves many unassigned; the plan
// answers how many, and about how many teams of 150 minutes would take them all;
// planning that many teams does (all but any household out of reach of the depot
// within a shift). A plan that leaves nobody over answers no estimate, and neither
// does reading the routes again.
func TestSamplingRoutesEstimate(t *testing.T) {
	t.Parallel()
	f := samplingFixture(t)
	var r roundAnswer
	if code := f.send(t, "commander", "POST", "/api/v1/sampling/rounds", `{"name":"甲街道全员核酸","area_id":2,"date":"2022-04-10"}`, &r); code != http.StatusCreated {
		t.Fatalf("create round: %d", code)
	}
	base := fmt.Sprintf("/api/v1/sampling/rounds/%d/routes", r.ID)
	team := `{"name":"T%d","depot":{"lng":121.446,"lat":31.12},"shift_minutes":150}`
	plan := func(n int) estimatePlan {
		t.Helper()
		teams := make([]string, n)
		for i := range teams {
			teams[i] = fmt.Sprintf(team, i+1)
		}
		var p estimatePlan
		if code := f.send(t, "commander", "POST", base, `{"teams":[`+strings.Join(teams, ",")+`],"seed":1,"budget_ms":2000}`, &p); code != http.StatusCreated {
			t.Fatalf("plan %d teams: %d", n, code)
		}
		return p
	}
	one := plan(1)
	e := one.Estimate
	if len(one.Unassigned) < 10 || one.UnassignedCount != len(one.Unassigned) || e == nil {
		t.Fatalf("one team: %d unassigned (count %d), estimate %+v", len(one.Unassigned), one.UnassignedCount, e)
	}
	t.Logf("one team: %d unassigned, estimate %+v", len(one.Unassigned), *e)
	if e.Unassigned != len(one.Unassigned) || e.TeamsPlanned != 1 || e.ShiftMinutes != 150 {
		t.Errorf("estimate %+v does not describe the plan", *e)
	}
	// 31 doors at 5 minutes each are 155 minutes of service alone: more than a shift.
	if e.TeamsNeeded < 2 || e.WorkMinutes < 155 || !e.Verified {
		t.Errorf("estimate %+v: want at least 2 teams for at least 155 minutes of work, verified", *e)
	}
	enough := plan(e.TeamsNeeded)
	if len(enough.Unassigned) != e.Unreachable || (e.Unreachable == 0) != (enough.Estimate == nil) {
		t.Errorf("%d teams: %d unassigned, estimate %+v", e.TeamsNeeded, len(enough.Unassigned), enough.Estimate)
	}
	stops := 0
	for _, tm := range enough.Teams {
		stops += len(tm.Stops)
	}
	if want := len(one.Unassigned) + len(one.Teams[0].Stops) - e.Unreachable; stops != want {
		t.Errorf("%d teams visit %d households, want %d", e.TeamsNeeded, stops, want)
	}
	var again estimatePlan
	if code := f.get(t, "commander", base, &again); code != http.StatusOK || again.Estimate != nil || again.UnassignedCount != e.Unreachable {
		t.Errorf("reading the routes: %d %+v", code, again)
	}
}
