package api_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gridtrace/gridtrace/web"
)

// TestCareBrowserFeverAlertLive: a grid worker records a fever check-in in the care
// panel of their page; the commander's map, open in another browser, lists the
// fever alert and draws it without reload. The panels never poll, so the alert can
// only arrive through the live feed.
func TestCareBrowserFeverAlertLive(t *testing.T) {
	chromium := requireChromium(t)
	f := newGridFixture(t)
	s := startLiveWeb(t, f.pool, web.FS())
	var iso struct {
		ID int64 `json:"id"`
	}
	if code := do(t, "POST", s.url+"/api/v1/isolations", f.tokens["worker"], `{"person_id":3,"kind":"health_monitoring","reason":"returnee"}`, &iso); code != http.StatusCreated {
		t.Fatalf("place: %d", code)
	}
	worker := openCommandMap(t, chromium, s.url, f.tokens["worker"])
	commander := openCommandMap(t, chromium, s.url, f.tokens["commander"])
	poll := func(ctx context.Context, what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second))); err != nil {
			t.Fatalf("%s (%s): %v", what, expr, err)
		}
	}
	id := fmt.Sprint(iso.ID)
	poll(worker, "the worker's panel lists the person", `!!window.gridtrace.care && window.gridtrace.care.isolationIds().includes(`+id+`) &&
		!!document.querySelector('[data-isolation-id="`+id+`"] form.care-checkin')`)
	poll(commander, "the commander's panel is loaded", `!!window.gridtrace.care && document.getElementById('care-alert-count').textContent === '(0)'`)

	// The worker types 38.4 °C into the form and submits it.
	if _, err := chromedp.Run(worker, chromedp.Evaluate[bool](`(() => {
		const form = document.querySelector('[data-isolation-id="`+id+`"] form.care-checkin');
		form.temperature.value = '38.4';
		form.requestSubmit();
		return true;
	})()`)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	poll(commander, "the commander sees the fever alert without reload",
		`!!document.querySelector('#care-alerts li[data-kind="fever"]') && window.gridtrace.care.alertIds().length === 1`)
	t.Logf("fever alert reached the commander's map %v after the check-in", time.Since(start).Round(time.Millisecond))
	poll(worker, "the worker's own list shows it", `!!document.querySelector('#care-alerts li[data-kind="fever"]')`)
	// Drawn on the map too.
	poll(commander, "the alert is drawn", `window.gridtrace.care.drawnAlerts() === 1`)
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM checkins WHERE isolation_id = $1 AND temperature = 38.4`, iso.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("check-in stored %d times (%v)", n, err)
	}
}
