package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gridtrace/gridtrace/web"
)

// TestSamplingBrowserPlanTeams: the commander of street 2 plans door-to-door routes
// from the sampling panel, choosing the team's sampler from a list of the samplers
// of their jurisdiction (not one of another street, not a disabled one) instead of
// typing an id. One team of 25 minutes reaches each of the two households (about
// 480 m from the depot) but not both, so the panel says one household is not
// covered and about 2 teams of 25 minutes are needed; planning 2 teams covers both.
func TestSamplingBrowserPlanTeams(t *testing.T) {
	chromium := requireChromium(t)
	f := newGridFixture(t)
	roundID := samplerRouteFixture(t, f)
	f.addUser(t, "s4", "sampler", []int64{4})
	f.addUser(t, "s6", "sampler", []int64{6})
	f.addUser(t, "s3-off", "sampler", []int64{3})
	f.exec(t, `UPDATE users SET disabled = true WHERE name = 's3-off'`)
	srv := startLiveWeb(t, f.pool, web.FS())

	cmd := openCommandMap(t, chromium, srv.url, f.tokens["commander"])
	if _, err := chromedp.Run(cmd, chromedp.Evaluate[bool](`window.gridtrace.sampling.ready`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("sampling panel: %v", err)
	}
	pollPage(t, cmd, "the round is shown", fmt.Sprintf(`window.gridtrace.sampling.round()?.id === %d`, roundID), "sampling-panel")
	pollPage(t, cmd, "the samplers of the jurisdiction, in a select per team",
		`window.gridtrace.sampling.samplers().join(',') === 's4,sampler' && document.querySelectorAll('#sampling-team-samplers select').length === 2`, "sampling-panel")
	options := evalString(t, cmd, `[...document.querySelectorAll('#sampling-team-user-1 option')].map((o) => o.textContent).join(',')`)
	if options != "no sampler,s4,sampler" {
		t.Fatalf("team 1's choices: %q", options)
	}

	// One team with the fixture's sampler, 25-minute shift, depot between the homes.
	evalString(t, cmd, `(() => { window.gridtrace.map.jumpTo({center: [121.44, 31.135]}); document.getElementById('sampling-manage').open = true;
		const n = document.getElementById('sampling-teams-n'); n.value = '1'; n.dispatchEvent(new Event('input'));
		document.getElementById('sampling-shift').value = '25';
		const sel = document.getElementById('sampling-team-user-1');
		sel.value = [...sel.options].find((o) => o.textContent === 'sampler').value; return ''; })()`)
	if n := evalString(t, cmd, `String(document.querySelectorAll('#sampling-team-samplers select').length)`); n != "1" {
		t.Fatalf("%s team selects for 1 team", n)
	}
	if err := chromedp.Do(cmd, chromedp.Click(chromedp.ID("sampling-plan-go"))); err != nil {
		t.Fatalf("plan: %v", err)
	}
	pollPage(t, cmd, "the panel says what is left over and how many teams would do",
		`document.getElementById('sampling-plan-result').textContent.startsWith('1 households not covered: about 2 teams of 25 minutes needed (1 planned).')`, "sampling-panel")
	pollPage(t, cmd, "the team list names the sampler and the household left over",
		`document.getElementById('sampling-team-list')?.textContent.includes('Team 1 (sampler)') && document.getElementById('sampling-unassigned')?.textContent === '1 households on no team\'s route'`, "sampling-panel")
	var plan struct {
		Teams []struct {
			UserID *int64 `json:"user_id"`
		} `json:"teams"`
		Unassigned []int64 `json:"unassigned"`
	}
	if code := f.get(t, "commander", fmt.Sprintf("/api/v1/sampling/rounds/%d/routes", roundID), &plan); code != http.StatusOK ||
		len(plan.Teams) != 1 || plan.Teams[0].UserID == nil || *plan.Teams[0].UserID != f.ids["sampler"] || len(plan.Unassigned) != 1 {
		t.Fatalf("the stored plan: %d %+v, want one team of user %d and one household over", code, plan, f.ids["sampler"])
	}

	// Two teams, as the panel suggested: everyone is on a route.
	evalString(t, cmd, `(() => { const n = document.getElementById('sampling-teams-n'); n.value = '2'; n.dispatchEvent(new Event('input')); return ''; })()`)
	if got := evalString(t, cmd, `document.getElementById('sampling-team-user-1').selectedOptions[0].textContent`); got != "sampler" {
		t.Fatalf("team 1's sampler after adding a team: %q", got)
	}
	if err := chromedp.Do(cmd, chromedp.Click(chromedp.ID("sampling-plan-go"))); err != nil {
		t.Fatalf("plan: %v", err)
	}
	pollPage(t, cmd, "two teams cover both households",
		`document.getElementById('sampling-plan-result').textContent === 'Every door-to-door household is on a route.' && !document.getElementById('sampling-unassigned')`, "sampling-panel")
	if text := evalString(t, cmd, `document.getElementById('sampling-team-list').textContent`); !strings.Contains(text, "Team 2 1 / 1") && !strings.Contains(text, "Team 2 0 / 1") {
		t.Errorf("team list %q: want team 2 with one stop", text)
	}
}
