package api_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
	"github.com/gridtrace/gridtrace/trace"
	"github.com/gridtrace/gridtrace/trace/geolifetest"
	"github.com/gridtrace/gridtrace/trace/track"
)

// TestBrowserTraceCase loads two GeoLife users who met (003 and 005), logs in as a
// tracer, opens 003 as the case in the tracing view, and checks that the case's
// trajectory and the contact's overlay are drawn (rendered features on their
// layers), then clicks the contact and checks that the map zoomed in to a view
// holding the contact's closest encounter.
func TestBrowserTraceCase(t *testing.T) {
	chromium := requireChromium(t)
	begin := time.Now()
	pool, _ := dbtest.New(t)
	store := grid.NewStore(pool)
	ts, err := trace.NewStore(pool, trace.DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	trajs, committed := geolifetest.Trajectories(t)
	if !committed {
		t.Skip("needs the committed sample's users 003 and 005")
	}
	var two []track.Trajectory
	for _, tr := range trajs {
		if tr.Person == "003" || tr.Person == "005" {
			two = append(two, tr)
		}
	}
	rep, err := ts.IngestPings(context.Background(), grid.Caller{Route: "test"}, "geolife", two)
	if err != nil {
		t.Fatal(err)
	}
	caseID := rep.Subjects[0].ID // 003
	mustUser(t, store, "tracer", grid.Tracer, nil)
	hs := webServer(t, store)

	tab := browser(t, chromium)
	if err := chromedp.Do(tab, chromedp.Navigate(hs.URL+"/")); err != nil {
		t.Fatalf("open the app: %v", err)
	}
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	err = chromedp.Do(ctx,
		loginForm("tracer"),
		chromedp.WaitVisible(chromedp.ID("trace-panel")),
		chromedp.WaitReady(chromedp.CSS(`#trace-case option[value="`+strconv.FormatInt(caseID, 10)+`"]`)),
		chromedp.SetValue(chromedp.ID("trace-case"), strconv.FormatInt(caseID, 10)),
		chromedp.Click(chromedp.ID("trace-run")),
	)
	if err != nil {
		t.Fatalf("log in and open the case: %v", err)
	}
	poll := chromedp.WithPollingTimeout(30 * time.Second)
	every := chromedp.WithPollingInterval(100 * time.Millisecond)
	// The run is answered, the map has framed the trajectory and drawn both layers.
	drawn, err := chromedp.Run(ctx, chromedp.Poll[map[string]int](`(() => {
		const tr = window.gridtrace.trace;
		if (!tr.run || !tr.run.contacts.length) return null;
		const r = tr.rendered();
		return r['trace-track'] > 0 && r['trace-contacts'] > 0 ? r : null;
	})()`, every, poll))
	if err != nil {
		state, _ := chromedp.Run(tab, chromedp.Evaluate[any](`({rendered: window.gridtrace.trace.rendered && window.gridtrace.trace.rendered(), status: document.getElementById('trace-status').textContent})`))
		t.Fatalf("trajectory and contact overlay never drawn: %v (%v)", err, state)
	}
	first, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.gridtrace.trace.run.contacts[0].subject.ext_id`))
	if err != nil || first != "005" {
		t.Fatalf("first contact %q, %v", first, err)
	}
	zoomBefore, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.gridtrace.map.getZoom()`))
	if err != nil {
		t.Fatal(err)
	}

	// Clicking the contact zooms to its closest encounter.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#trace-contacts button[data-rank="1"]`))); err != nil {
		t.Fatalf("click the contact: %v", err)
	}
	type view struct {
		Zoom     float64    `json:"zoom"`
		Contains bool       `json:"contains"`
		Where    [2]float64 `json:"where"`
	}
	got, err := chromedp.Run(ctx, chromedp.Poll[view](`(() => {
		const map = window.gridtrace.map;
		const run = window.gridtrace.trace.run;
		// The encounter the test expects: contact 1's closest, from the API's answer.
		const e = run.contacts[0].encounters.reduce((a, b) => (b.min_distance_m < a.min_distance_m ? b : a));
		if (map.isMoving() || map.getZoom() < `+strconv.FormatFloat(zoomBefore+1, 'f', 3, 64)+`) return null;
		return {zoom: map.getZoom(), contains: map.getBounds().contains(e.where), where: e.where};
	})()`, every, poll))
	if err != nil {
		t.Fatalf("the map never zoomed in after the click: %v", err)
	}
	if !got.Contains {
		t.Fatalf("after the click the map (zoom %.1f) does not show the encounter at %v", got.Zoom, got.Where)
	}
	t.Logf("case 003: rendered %v; clicked contact 005, zoom %.1f → %.1f, encounter at %v in view; %s in all",
		drawn, zoomBefore, got.Zoom, got.Where, time.Since(begin).Round(time.Millisecond))
}
