package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gridtrace/gridtrace/api/live"
	"github.com/gridtrace/gridtrace/web"
)

// TestZonesBrowserTwoServers: two commanders, each in their own browser on their
// own server process (API, hub and listener) over one database. A sealed zone drawn
// in A appears in B without reload; B's edit of a version A has already replaced is
// refused with 409 in B's panel and B's shape is kept; and after B's server is
// stopped and restarted on the same address, B's live feed reconnects and receives
// the edit A made meanwhile.
func TestZonesBrowserTwoServers(t *testing.T) {
	chromium := requireChromium(t)
	f := newGridFixture(t)
	srvA := startLiveWeb(t, f.pool, web.FS())
	poolB := secondPool(t, f.pool)
	srvB := startLiveWeb(t, poolB, web.FS())

	a := openCommandMap(t, chromium, srvA.url, f.tokens["commander"])
	b := openCommandMap(t, chromium, srvB.url, f.tokens["commander"])
	js := func(ctx context.Context, expr string) map[string]any {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	square := func(x0, y0, x1, y1 float64) string {
		return fmt.Sprintf(`[[[%g,%g],[%g,%g],[%g,%g],[%g,%g],[%g,%g]]]`, x0, y0, x1, y0, x1, y1, x0, y1, x0, y0)
	}

	// A draws: the same path as finishing a Terra Draw polygon, then the reason.
	got := js(a, `window.gridtrace.zones.drawPolygon(`+square(121.405, 31.105, 121.425, 31.125)+`, 'two cases in one building')`)
	body, _ := got["body"].(map[string]any)
	if got["status"] != 201.0 || body == nil {
		t.Fatalf("draw in A: %v", got)
	}
	id := int64(body["id"].(float64))
	zone := fmt.Sprint(id)
	pollPage(t, a, "A shows its zone", `window.gridtrace.zones.version(`+zone+`) === 1 && window.gridtrace.zones.rendered() > 0`, "")
	start := time.Now()
	pollPage(t, b, "B shows A's zone without reload", `window.gridtrace.zones.ids().includes(`+zone+`) && window.gridtrace.zones.rendered() > 0`, "")
	t.Logf("zone %d drawn in A appeared in B after %v", id, time.Since(start).Round(time.Millisecond))

	// The stale edit: A goes 1 → 2, then B edits version 1.
	got = js(a, `window.gridtrace.zones.edit(`+zone+`, 1, {type: 'Polygon', coordinates: `+square(121.405, 31.105, 121.43, 31.125)+`}, 'wider')`)
	if got["status"] != 200.0 {
		t.Fatalf("edit in A: %v", got)
	}
	bShape := square(121.405, 31.105, 121.42, 31.13)
	got = js(b, `window.gridtrace.zones.edit(`+zone+`, 1, {type: 'Polygon', coordinates: `+bShape+`}, 'taller')`)
	if got["status"] != 409.0 {
		t.Fatalf("stale edit in B: %v, want 409", got)
	}
	msg, err := chromedp.Run(b, chromedp.Evaluate[string](`document.getElementById('zone-error-text').textContent`))
	if err != nil || !strings.Contains(msg, "version") {
		t.Fatalf("B's panel says %q (%v), want the 409 message", msg, err)
	}
	kept, err := chromedp.Run(b, chromedp.Evaluate[string](`JSON.stringify(window.gridtrace.zones.pending().geometry.coordinates)`))
	if err != nil || !sameJSON(kept, bShape) {
		t.Fatalf("B's shape after the 409: %s (%v), want %s", kept, err, bShape)
	}
	t.Logf("stale edit in B: %s", msg)
	pollPage(t, b, "B sees version 2", `window.gridtrace.zones.version(`+zone+`) === 2`, "")

	// Server B goes away; A edits meanwhile; B comes back on the same address.
	addr := strings.TrimPrefix(srvB.url, "http://")
	js(b, `(window.seen = [], addEventListener('gridtrace:change', (e) => window.seen.push(e.detail)), {})`)
	srvB.stop()
	pollPage(t, b, "B's feed notices", `document.getElementById('live-status').dataset.state === 'reconnecting'`, "")
	got = js(a, `window.gridtrace.zones.edit(`+zone+`, 2, {type: 'Polygon', coordinates: `+square(121.405, 31.105, 121.44, 31.125)+`}, 'wider still')`)
	if got["status"] != 200.0 {
		t.Fatalf("edit in A while B is down: %v", got)
	}
	start = time.Now()
	startLiveOn(t, poolB, web.FS(), live.Config{}, addr)
	pollPage(t, b, "B receives the change made while it was away",
		`window.seen.some((m) => m.type === 'change' && m.entity === 'zone' && m.entity_id === `+zone+`) && window.gridtrace.zones.version(`+zone+`) === 3`, "")
	t.Logf("B reconnected and caught up %v after its server restarted", time.Since(start).Round(time.Millisecond))
}

// openCommandMap opens the web app in a browser of its own with the token as its
// session cookie and waits for the zones layer and a live feed.
func openCommandMap(t *testing.T, chromium, url, token string) context.Context {
	t.Helper()
	ctx, err := signedIn(t, chromium, url, token)
	if err == nil {
		err = chromedp.Do(ctx, chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.ID("map-view")))
	}
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](
			`window.gridtrace.ready.then(() => window.gridtrace.zones.ready)`, chromedp.EvalAwaitPromise))
	}
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('live-status').dataset.state === 'live'`,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	}
	if err != nil {
		t.Fatalf("open the command map on %s: %v", url, err)
	}
	return ctx
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(x, y string) bool {
	var a, b any
	return json.Unmarshal([]byte(x), &a) == nil && json.Unmarshal([]byte(y), &b) == nil && fmt.Sprint(a) == fmt.Sprint(b)
}

// TestZonesBrowserTerraDraw draws a sealed zone the way a commander does: the
// "Draw sealed zone" button, four clicks on the map and a click on the first
// corner (Terra Draw's polygon mode), then the reason in the panel.
func TestZonesBrowserTerraDraw(t *testing.T) {
	chromium := requireChromium(t)
	f := newGridFixture(t)
	srv := startLiveWeb(t, f.pool, web.FS())
	ctx := openCommandMap(t, chromium, srv.url, f.tokens["commander"])

	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("zone-draw")), chromedp.WaitVisible(chromedp.ID("zone-hint"))); err != nil {
		t.Fatalf("start drawing: %v", err)
	}
	corners := [][2]float64{{121.41, 31.11}, {121.43, 31.11}, {121.43, 31.13}, {121.41, 31.13}, {121.41, 31.11}}
	for _, c := range corners {
		xy, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](fmt.Sprintf(
			`(({x, y}) => { const r = window.gridtrace.map.getCanvas().getBoundingClientRect(); return [r.left + x, r.top + y]; })(window.gridtrace.map.project([%g, %g]))`, c[0], c[1])))
		if err == nil {
			err = chromedp.Do(ctx, chromedp.MouseClickXY(xy[0], xy[1]), chromedp.Sleep(150*time.Millisecond))
		}
		if err != nil {
			t.Fatalf("click %v: %v", c, err)
		}
	}
	err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.ID("zone-form")),
		chromedp.SendKeys(chromedp.ID("zone-reason"), "drawn by hand"),
		chromedp.Click(chromedp.ID("zone-save")),
	)
	if err != nil {
		t.Fatalf("save the drawn zone: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.gridtrace.zones.count() === 1 && window.gridtrace.zones.rendered() === 1`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('zone-error-text').textContent`))
		t.Fatalf("drawn zone not shown: %v (panel error %q)", err, msg)
	}
	// The panel shows the new zone, with who is inside once /summary answers.
	kind, err := chromedp.Run(ctx, chromedp.Poll[string](
		`document.querySelector('#zone-table tr[data-key="Persons inside"] td')?.textContent !== '…' && document.querySelector('#zone-table tr[data-key="Kind"] td')?.textContent`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil || kind != "sealed" {
		t.Fatalf("panel kind %q: %v", kind, err)
	}
}
