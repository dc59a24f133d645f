package api_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gridtrace/gridtrace/web"
)

// TestBrowserLive: the web app connects the live feed after login, shows it as
// live, dispatches a gridtrace:change event for a household written elsewhere and
// refreshes the households tiles; when the session is revoked, it shows the login.
func TestBrowserLive(t *testing.T) {
	chromium := requireChromium(t)
	f := newGridFixture(t)
	s := startLiveWeb(t, f.pool, web.FS())

	tab := browser(t, chromium)
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	// The fixture's sessions are made without a password: hand the browser one as
	// its cookie (the login form is tested in browser_test.go).
	err := chromedp.Do(tab, chromedp.Navigate(s.url+"/healthz"))
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie = "gridtrace_session=`+f.tokens["worker"]+`; path=/"`))
	}
	if err == nil {
		err = chromedp.Do(ctx, chromedp.Navigate(s.url+"/"), chromedp.WaitVisible(chromedp.ID("map-view")))
	}
	if err != nil {
		t.Fatalf("open the app: %v", err)
	}
	state, err := chromedp.Run(ctx, chromedp.Poll[string](
		`(document.querySelector('#live-status[data-state="live"]') || {}).textContent`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil || state != "live" {
		t.Fatalf("live badge %q: %v", state, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		`window.seen = []; addEventListener('gridtrace:change', (e) => window.seen.push(e.detail)); true`)); err != nil {
		t.Fatal(err)
	}

	id := createHousehold(t, s.url, f.tokens["worker"], 121.44, 31.14)
	got, err := chromedp.Run(ctx, chromedp.Poll[float64](
		`(window.seen.find((m) => m.entity === 'household' && m.entity_id === `+itoa64(id)+`) || {}).id`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil || got == 0 {
		t.Fatalf("no gridtrace:change for household %d: %v", id, err)
	}
	// The change id is remembered for the next visit, and the tiles were refreshed.
	last, err := chromedp.Run(ctx, chromedp.Evaluate[string](`localStorage.getItem('gridtrace.live.last')`))
	if err != nil || last != itoa64(int64(got)) {
		t.Fatalf("stored last id %q, want %v (%v)", last, got, err)
	}
	tiles, err := chromedp.Run(ctx, chromedp.Poll[string](
		`window.gridtrace.map.getStyle().sources.households.tiles[0].includes('v=') && window.gridtrace.map.getStyle().sources.households.tiles[0]`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil || !strings.Contains(tiles, "/tiles/households/{z}/{x}/{y}.mvt?v=") {
		t.Fatalf("households tiles not refreshed: %q %v", tiles, err)
	}

	// The admin ends the worker's sessions: the feed closes with 1008 and the app
	// shows the login instead of reconnecting.
	if code := do(t, "POST", s.url+"/api/v1/users/"+itoa64(f.ids["worker"])+"/revoke-sessions", f.tokens["admin"], "", nil); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("login-form"))); err != nil {
		t.Fatalf("no login after the session was revoked: %v", err)
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
