package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/gridtrace/gridtrace/web"
)

// samplerRouteFixture adds two grids to community 3 of the jurisdiction fixture, each
// with one household that cannot walk (door to door) — grid 7: household 101 with 3
// persons, grid 8: household 102 with 2 — and a sampling point; then, through the
// API as the commander, a round over community 3 and a one-team door-to-door route
// for the fixture's sampler. It answers the round id.
func samplerRouteFixture(t *testing.T, f gridFixture) int64 {
	t.Helper()
	ctx := context.Background()
	_, err := f.pool.Exec(ctx, `
		INSERT INTO areas (id, parent_id, level, name, code, ancestors, geom) VALUES
		  (7, 3, 'grid', '一网格', '测试区/甲街道/一社区/一网格', '{1,2,3,7}', ST_Multi(ST_MakeEnvelope(121.43, 31.13, 121.44, 31.14, 4326))),
		  (8, 3, 'grid', '二网格', '测试区/甲街道/一社区/二网格', '{1,2,3,8}', ST_Multi(ST_MakeEnvelope(121.44, 31.13, 121.45, 31.14, 4326)));
		INSERT INTO households (id, area_id, ext_id, address, building, unit, geom, h3_r8, h3_r12) VALUES
		  (101, 7, 'h-101', '一网格5号', '5', '', ST_SetSRID(ST_MakePoint(121.435, 31.135), 4326), 0, 0),
		  (102, 8, 'h-102', '二网格9号', '9', '', ST_SetSRID(ST_MakePoint(121.445, 31.136), 4326), 0, 0);
		INSERT INTO persons (household_id, name, id_number, phone, birth_date, sex, vulnerability) VALUES
		  (101, '吴一', '', '13100000001', '1938-01-01', 'F', '{bedridden}'),
		  (101, '吴二', '', '13100000002', '1965-01-01', 'M', '{}'),
		  (101, '吴三', '', '13100000003', '1990-01-01', 'F', '{}'),
		  (102, '郑一', '', '13100000004', '1950-01-01', 'M', '{disabled}'),
		  (102, '郑二', '', '13100000005', '1952-01-01', 'F', '{}')`)
	if err != nil {
		t.Fatalf("load sampling fixture: %v", err)
	}
	var e apiError
	if code := do(t, "POST", f.url+"/api/v1/sampling/points", f.tokens["commander"],
		`{"name":"一社区广场","lng":121.42,"lat":31.125,"capacity_per_hour":60,"opens":"07:00","closes":"20:00","grid_ids":[7,8]}`, &e); code != http.StatusCreated {
		t.Fatalf("create point: %d %+v", code, e)
	}
	var round struct {
		ID         int64 `json:"id"`
		DoorToDoor int   `json:"door_to_door_households"`
	}
	if code := do(t, "POST", f.url+"/api/v1/sampling/rounds", f.tokens["commander"],
		`{"name":"一社区全员核酸","area_id":3,"date":"2026-11-24","start":"07:00","slot_minutes":30,"walk_limit_minutes":15,"walk_kmh":4}`,
		&round); code != http.StatusCreated || round.DoorToDoor != 2 {
		t.Fatalf("create round: %d %+v, want 201 with 2 door-to-door households", code, round)
	}
	var plan struct {
		Teams []struct {
			Stops []struct {
				HouseholdID int64 `json:"household_id"`
			} `json:"stops"`
		} `json:"teams"`
	}
	body := fmt.Sprintf(`{"teams":[{"name":"上门一队","user_id":%d,"depot":{"lng":121.43,"lat":31.13},"shift_minutes":240}],"seed":1,"budget_ms":100}`,
		f.ids["sampler"])
	if code := do(t, "POST", fmt.Sprintf("%s/api/v1/sampling/rounds/%d/routes", f.url, round.ID), f.tokens["commander"], body, &plan); code != http.StatusCreated ||
		len(plan.Teams) != 1 || len(plan.Teams[0].Stops) != 2 {
		t.Fatalf("plan routes: %d %+v, want one team with 2 stops", code, plan)
	}
	return round.ID
}

// openSamplerView opens the web app as the token's user in a phone-sized browser
// (375 × 740) and waits for the sampler's view with its route and a live feed.
func openSamplerView(t *testing.T, chromium, url, token string) context.Context {
	t.Helper()
	ctx, err := signedIn(t, chromium, url, token)
	if err == nil {
		err = chromedp.Do(ctx, chromedp.EmulateViewport(375, 740, chromedp.EmulatePortrait, chromedp.EmulateMobile),
			chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.ID("sampler-view")))
	}
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.gridtrace.ready.then(() => window.gridtrace.sampler.ready)`, chromedp.EvalAwaitPromise))
	}
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('live-status')?.dataset.state === 'live'`,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	}
	if err != nil {
		t.Fatalf("open the sampler's view on %s: %v", url, err)
	}
	return ctx
}

// TestSamplingBrowserStopDoneUpdatesCoverage: the commander watches the round's
// coverage on the command map while the sampler, on a phone-sized page of their
// own, marks their next stop done; the commander's figure for that stop's grid goes
// from "0 / n" to "n / n" without a reload, through the live feed (the panel never
// polls), and the other grid stays as it was.
func TestSamplingBrowserStopDoneUpdatesCoverage(t *testing.T) {
	chromium := requireChromium(t)
	f := newGridFixture(t)
	roundID := samplerRouteFixture(t, f)
	srv := startLiveWeb(t, f.pool, web.FS())

	// The commander's map shows the round, its coverage per grid and the point.
	cmd := openCommandMap(t, chromium, srv.url, f.tokens["commander"])
	if _, err := chromedp.Run(cmd, chromedp.Evaluate[bool](`window.gridtrace.sampling.ready`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("sampling panel: %v", err)
	}
	pollPage(t, cmd, "the commander sees the round's coverage", fmt.Sprintf(
		`window.gridtrace.sampling.round()?.id === %d && window.gridtrace.sampling.cell(7) === '0 / 3' && window.gridtrace.sampling.cell(8) === '0 / 2'`, roundID), "")
	pollPage(t, cmd, "the commander sees the sampling point with its load",
		`window.gridtrace.sampling.points() === 1 && Object.values(window.gridtrace.sampling.loads())[0]?.round_id === `+itoa64(roundID), "")
	// A mark on the page: a reload would take it away.
	evalString(t, cmd, `window.notReloaded = 'yes'`)

	// The sampler lands on their view: the list in order, the next stop highlighted,
	// a numbered marker per stop, and nothing wider than the phone.
	smp := openSamplerView(t, chromium, srv.url, f.tokens["sampler"])
	pollPage(t, smp, "the sampler's list", `document.querySelectorAll('#sampler-stops li').length === 2`, "")
	order := evalString(t, smp, `[...document.querySelectorAll('#sampler-stops li')].map((li) => li.querySelector('.sampler-seq').textContent + ':' + li.dataset.householdId).join(',')`)
	if order != "1:101,2:102" && order != "1:102,2:101" {
		t.Fatalf("stops in order: %q", order)
	}
	next := strings.Split(strings.Split(order, ",")[0], ":")[1]
	other := map[string]string{"101": "102", "102": "101"}[next]
	grid := map[string]string{"101": "7", "102": "8"}
	persons := map[string]string{"101": "3", "102": "2"}
	if got := evalString(t, smp, `String(window.gridtrace.sampler.next())`); got != next {
		t.Fatalf("next stop %s, want %s (seq 1)", got, next)
	}
	if got := evalString(t, smp, `[...document.querySelectorAll('#sampler-stops li.next')].map((li) => li.dataset.householdId).join(',')`); got != next {
		t.Fatalf("highlighted stops %q, want %s", got, next)
	}
	pollPage(t, smp, "a numbered marker per stop, the next one highlighted",
		`document.querySelectorAll('.sampler-marker').length === 2 && document.querySelector('.sampler-marker.next')?.dataset.householdId === '`+next+`'`, "")
	if w := evalString(t, smp, `String(document.documentElement.scrollWidth)`); w != "375" {
		t.Fatalf("the sampler's page is %s px wide at 375", w)
	}

	// The sampler marks the next stop done by tapping its button.
	if err := chromedp.Do(smp, chromedp.Click(chromedp.CSS(`#stop-`+next+` button[data-outcome="done"]`))); err != nil {
		t.Fatalf("tap done: %v", err)
	}
	pollPage(t, smp, "the sampler's list shows the outcome and moves on",
		`document.getElementById('stop-`+next+`').dataset.outcome === 'done' && window.gridtrace.sampler.next() === `+other+
			` && document.querySelector('#sampler-stops li.next')?.dataset.householdId === '`+other+`'`+
			` && document.getElementById('sampler-progress').textContent === '1 of 2 visited'`, "")

	// The commander's figure for that grid follows, without a reload.
	start := time.Now()
	want := persons[next] + " / " + persons[next]
	pollPage(t, cmd, "the commander's coverage follows the stop without reload",
		`window.gridtrace.sampling.cell(`+grid[next]+`) === '`+want+`'`, "")
	t.Logf("grid %s coverage went to %q %v after the tap", grid[next], want, time.Since(start).Round(time.Millisecond))
	if got := evalString(t, cmd, `String(window.notReloaded)`); got != "yes" {
		t.Fatal("the command map was reloaded")
	}
	if got := evalString(t, cmd, `window.gridtrace.sampling.cell(`+grid[other]+`)`); got != "0 / "+persons[other] {
		t.Fatalf("grid %s coverage %q, want it unchanged", grid[other], got)
	}
	pollPage(t, cmd, "the commander's team list counts the visit",
		`document.getElementById('sampling-team-list')?.textContent.includes('1 / 2 stops visited')`, "")
	total := evalString(t, cmd, `document.getElementById('sampling-total').textContent`)
	if !strings.HasPrefix(total, "Swabbed "+persons[next]+" / 8 expected") {
		t.Fatalf("total line %q", total)
	}

	// Printed, the list keeps the stops and loses the map and the buttons.
	_, err := chromedp.Run(smp, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	}))
	if err != nil {
		t.Fatalf("emulate print: %v", err)
	}
	printed := evalString(t, smp, `[getComputedStyle(document.getElementById('sampler-map')).display,
		getComputedStyle(document.querySelector('.sampler-actions')).display,
		getComputedStyle(document.querySelector('.sampler-paper')).display,
		String(document.querySelectorAll('#sampler-stops li').length)].join(',')`)
	if printed != "none,none,block,2" {
		t.Fatalf("print layout (map, buttons, paper boxes, stops): %s", printed)
	}
}
