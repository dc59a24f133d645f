package api_test

import (
	"context"
	"encoding/json"
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
	id := fmt.Sprint(iso.ID)
	pollPage(t, worker, "the worker's panel lists the person", `!!window.gridtrace.care && window.gridtrace.care.isolationIds().includes(`+id+`) &&
		!!document.querySelector('[data-isolation-id="`+id+`"] form.care-checkin')`, "care-panel")
	pollPage(t, commander, "the commander's panel is loaded", `!!window.gridtrace.care && document.getElementById('care-alert-count').textContent === '(0)'`, "care-panel")

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
	pollPage(t, commander, "the commander sees the fever alert without reload",
		`!!document.querySelector('#care-alerts li[data-kind="fever"]') && window.gridtrace.care.alertIds().length === 1`, "care-panel")
	t.Logf("fever alert reached the commander's map %v after the check-in", time.Since(start).Round(time.Millisecond))
	pollPage(t, worker, "the worker's own list shows it", `!!document.querySelector('#care-alerts li[data-kind="fever"]')`, "care-panel")
	// Drawn on the map too.
	pollPage(t, commander, "the alert is drawn", `window.gridtrace.care.drawnAlerts() === 1`, "care-panel")
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM checkins WHERE isolation_id = $1 AND temperature = 38.4`, iso.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("check-in stored %d times (%v)", n, err)
	}
}

// careSession drives one browser's care panel through the DOM: clicks, typed keys
// and chosen options, as its user would.
type careSession struct {
	t   *testing.T
	ctx context.Context
}

// poll waits until expr is true in the page.
func (s careSession) poll(what, expr string) {
	s.t.Helper()
	pollPage(s.t, s.ctx, what, expr, "care-panel")
}

// do runs DOM actions, failing the test on the first error.
func (s careSession) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	if err := chromedp.Do(s.ctx, actions...); err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
}

// choose picks an option of a select and lets the page know, as a user's pick does.
func choose(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.QueryAfter(chromedp.CSS(sel), func(ctx context.Context, t *chromedp.Target, nodes []*chromedp.Node) (chromedp.Void, error) {
		var v chromedp.Void
		if _, err := chromedp.SetValue(chromedp.NodeIDs{nodes[0].NodeID}, value)(ctx, t); err != nil {
			return v, err
		}
		_, err := chromedp.Evaluate[bool](`document.querySelector(`+fmt.Sprintf("%q", sel)+`).dispatchEvent(new Event('change', {bubbles: true}))`)(ctx, t)
		return v, err
	}, chromedp.NodeVisible)
}

// TestCareBrowserTransferToSite: a commander requests a transfer to a one-room site
// through the panel's form; the admin's map, open in another browser, shows the
// site's free rooms drop from 1 to 0 without reload. A second transfer to the now
// full site is refused, and the panel says why (409, field site_id). The commander
// then marks the first transfer as departed with its button.
func TestCareBrowserTransferToSite(t *testing.T) {
	chromium := requireChromium(t)
	f := newGridFixture(t)
	s := startLiveWeb(t, f.pool, web.FS())
	var site struct {
		ID int64 `json:"id"`
	}
	if code := do(t, "POST", s.url+"/api/v1/sites", f.tokens["commander"], `{"name":"一号隔离点","location":[121.43,31.14],"rooms":1}`, &site); code != http.StatusCreated {
		t.Fatalf("create site: %d", code)
	}
	id := fmt.Sprint(site.ID)
	commander := careSession{t, openCommandMap(t, chromium, s.url, f.tokens["commander"])}
	admin := careSession{t, openCommandMap(t, chromium, s.url, f.tokens["admin"])}
	siteRow := `document.querySelector('#care-sites li[data-site-id="` + id + `"]')`
	admin.poll("the admin's panel lists the site with its free room", `!!window.gridtrace.care && `+siteRow+`?.dataset.free === '1'`)
	commander.poll("the commander's form offers the site", `!!document.querySelector('#care-transfer-form select[name=site] option[value="`+id+`"]')`)

	commander.do("request a transfer in the form",
		chromedp.Click(chromedp.CSS("#care-transfers-box > summary")),
		chromedp.SendKeys(chromedp.CSS("#care-transfer-form input[name=person]"), "3"),
		choose("#care-transfer-form select[name=site]", id),
		chromedp.SendKeys(chromedp.CSS("#care-transfer-form input[name=vehicle]"), "van 7"),
		choose("#care-transfer-form select[name=reason]", "close_contact"),
		chromedp.Click(chromedp.CSS("#care-transfer-form button[type=submit]")))
	start := time.Now()
	admin.poll("the admin sees the site full without reload", siteRow+`?.dataset.free === '0' && `+siteRow+`.textContent.includes('0 of 1 rooms free')`)
	t.Logf("the site's free rooms reached the admin's map %v after the request", time.Since(start).Round(time.Millisecond))
	commander.poll("the commander's list shows the transfer", `document.querySelector('#care-transfers li[data-status="requested"]')?.textContent.includes('一号隔离点')`)
	admin.poll("the admin's list shows it too", `window.gridtrace.care.transferIds().length === 1`)

	// A second person to the full site: refused, and the panel says so.
	commander.do("request a second transfer",
		chromedp.SendKeys(chromedp.CSS("#care-transfer-form input[name=person]"), "4"),
		choose("#care-transfer-form select[name=site]", id),
		chromedp.Click(chromedp.CSS("#care-transfer-form button[type=submit]")))
	commander.poll("the panel shows the 409 with its field", `(() => {
		const m = document.getElementById('care-transfer-msg');
		return !m.hidden && m.classList.contains('care-bad') && m.textContent.includes('no free room') && m.textContent.includes('(site_id)');
	})()`)
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM transfers WHERE site_id = $1`, site.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d transfers stored (%v), want 1", n, err)
	}

	commander.do("depart", chromedp.Click(chromedp.CSS(`#care-transfers li[data-status="requested"] button[name=depart]`)))
	admin.poll("the admin sees the transfer in transit", `!!document.querySelector('#care-transfers li[data-status="in_transit"]')`)
	var status, vehicle string
	if err := f.pool.QueryRow(context.Background(), `SELECT status, vehicle FROM transfers WHERE site_id = $1 AND person_id = 3`, site.ID).
		Scan(&status, &vehicle); err != nil || status != "in_transit" || vehicle != "van 7" {
		t.Fatalf("transfer %q by %q (%v)", status, vehicle, err)
	}
}

// TestCareBrowserContactNeedsDelivery: a grid worker, all through the panel, asks
// to isolate a person at home (refused: the panel shows the reasons the server
// gives) and places them under health monitoring instead; marks a vulnerable
// person of the same household contacted with the need "food"; sees that need on
// the person's row, orders a delivery from it, and moves the delivery on to
// dispatched and delivered, the status showing in the panel at each step.
func TestCareBrowserContactNeedsDelivery(t *testing.T) {
	chromium := requireChromium(t)
	f := newGridFixture(t)
	s := startLiveWeb(t, f.pool, web.FS())
	if code := do(t, "PUT", s.url+"/api/v1/vulnerable/2/worker", f.tokens["commander"], fmt.Sprintf(`{"worker_id":%d}`, f.ids["worker"]), nil); code != http.StatusOK {
		t.Fatalf("assign worker: %d", code)
	}
	w := careSession{t, openCommandMap(t, chromium, s.url, f.tokens["worker"])}
	w.poll("the worker's panel lists the vulnerable person", `!!window.gridtrace.care && !!document.querySelector('#care-vulnerable li[data-person-id="2"]')`)

	// Home isolation for person 1 (aged 36, no separate room): not eligible.
	w.do("ask for home isolation",
		chromedp.Click(chromedp.CSS("#care-place-box > summary")),
		chromedp.SendKeys(chromedp.CSS("#care-place-form input[name=person]"), "1"),
		choose("#care-place-form select[name=reason]", "returnee"),
		chromedp.Click(chromedp.CSS("#care-place-form button[type=submit]")))
	w.poll("the panel shows why not", `(() => {
		const m = document.getElementById('care-place-msg');
		return !m.hidden && m.textContent.startsWith('Not eligible for home isolation') && m.textContent.includes('no separate room');
	})()`)
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM isolations WHERE person_id = 1`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d spells for person 1 (%v) after a refused eligibility", n, err)
	}
	w.do("place under health monitoring instead",
		choose("#care-place-form select[name=kind]", "health_monitoring"),
		chromedp.WaitNotVisible(chromedp.CSS("#care-place-form fieldset")),
		chromedp.Click(chromedp.CSS("#care-place-form button[type=submit]")))
	w.poll("the spell is placed and listed", `document.getElementById('care-place-msg').textContent.includes('is under health monitoring until') &&
		window.gridtrace.care.isolationIds().length === 1`)

	// The contact, with the need found.
	person := `#care-vulnerable li[data-person-id="2"]`
	w.do("record the contact with need food",
		chromedp.Click(chromedp.CSS(person+" button[name=contacted]")),
		chromedp.Click(chromedp.CSS(`#care-contact-form input[name=need][value=food]`)),
		chromedp.SendKeys(chromedp.CSS("#care-contact-form input[name=note]"), "no rice left"),
		chromedp.Click(chromedp.CSS("#care-contact-form button[type=submit]")))
	w.poll("the row shows the need recorded today", `document.querySelector('`+person+` .care-needs')?.textContent.includes('needs food') &&
		document.querySelector('`+person+`').textContent.includes('contacted today') && document.getElementById('care-contact-form').hidden`)
	var needs []string
	var note string
	if err := f.pool.QueryRow(context.Background(), `SELECT needs, note FROM care_contacts WHERE person_id = 2`).Scan(&needs, &note); err != nil ||
		fmt.Sprint(needs) != "[food]" || note != "no rice left" {
		t.Fatalf("contact stored with %v %q (%v)", needs, note, err)
	}

	// The delivery, ordered from the need, then moved on.
	w.do("order a delivery from the need",
		chromedp.Click(chromedp.CSS(person+" button[name=order]")),
		chromedp.Click(chromedp.CSS("#care-delivery-form button[type=submit]")))
	row := `#care-deliveries li.care-delivery`
	w.poll("the delivery is listed as requested", `document.querySelector('`+row+`')?.dataset.status === 'requested' &&
		document.querySelector('`+row+` .care-status').textContent === 'requested' && document.querySelector('`+row+`').textContent.includes('food')`)
	w.do("dispatch", chromedp.Click(chromedp.CSS(row+`[data-status="requested"] button[name=dispatch]`)))
	w.poll("the delivery shows dispatched", `document.querySelector('`+row+` .care-status')?.textContent === 'dispatched'`)
	w.do("deliver", chromedp.Click(chromedp.CSS(row+`[data-status="dispatched"] button[name=deliver]`)))
	w.poll("the delivery shows delivered, with no more buttons", `document.querySelector('`+row+` .care-status')?.textContent === 'delivered' &&
		!document.querySelector('`+row+` button')`)
	var items []string
	var status string
	var household int64
	if err := f.pool.QueryRow(context.Background(), `SELECT household_id, items, status FROM deliveries`).Scan(&household, &items, &status); err != nil ||
		household != 1 || fmt.Sprint(items) != "[food]" || status != "delivered" {
		t.Fatalf("delivery stored as %d %v %q (%v)", household, items, status, err)
	}
}

// openCareAt opens the command map as the token's user in a page of the given size
// and waits for the care panel.
func openCareAt(t *testing.T, chromium, url, token string, width, height int64) careSession {
	t.Helper()
	ctx, err := signedIn(t, chromium, url, token)
	if err == nil {
		opts := []chromedp.EmulateViewportOption{}
		if width < 600 {
			opts = append(opts, chromedp.EmulatePortrait, chromedp.EmulateMobile)
		}
		err = chromedp.Do(ctx, chromedp.EmulateViewport(width, height, opts...), chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.ID("map-view")))
	}
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.gridtrace.ready.then(() => window.gridtrace.care.ready)`, chromedp.EvalAwaitPromise))
	}
	if err != nil {
		t.Fatalf("open the command map at %d×%d: %v", width, height, err)
	}
	return careSession{t, ctx}
}

// careOverlap is the JavaScript that lists the other panels and map controls the
// care panel's box meets, and whether the panel stays inside the page.
const careOverlap = `(() => {
	const box = (el) => el.getBoundingClientRect();
	const shown = (el) => el && el.getClientRects().length > 0;
	const care = box(document.getElementById('care-panel'));
	const others = ['panel', 'trace-panel', 'zone-panel', 'sampling-panel', 'status'].map((id) => document.getElementById(id))
		.concat([...document.querySelectorAll('.maplibregl-ctrl')]).filter(shown);
	const hits = others.filter((el) => { const o = box(el); return o.left < care.right && care.left < o.right && o.top < care.bottom && care.top < o.bottom; })
		.map((el) => el.id || el.className);
	const inside = care.left >= 0 && care.top >= 0 && care.right <= innerWidth && care.bottom <= innerHeight &&
		document.documentElement.scrollWidth <= innerWidth;
	return JSON.stringify({hits, inside, care: [care.left, care.top, care.right, care.bottom].map(Math.round), others: others.length});
})()`

// TestCareBrowserPanelLayout: at 1280×800 the care panel, every section unfolded,
// meets no other panel nor the map's controls, for a commander (whose tracing
// panel pushes it down) and a grid worker; the commander's section of missed
// contacts lists the vulnerable in a sealed zone not contacted by the contact hour.
// On a 375 px phone it starts folded to one line that meets nothing, and unfolded it
// stays inside the page.
func TestCareBrowserPanelLayout(t *testing.T) {
	chromium := requireChromium(t)
	f := newGridFixture(t)
	s := startLiveWeb(t, f.pool, web.FS())
	// Household 3 (persons 4 and 5, both vulnerable) is sealed; the care day is set
	// so that it is noon now and the contact hour (1) has passed: both are missed.
	if code := do(t, "POST", s.url+"/api/v1/zones", f.tokens["commander"],
		`{"kind":"sealed","geometry":`+sq(121.455, 31.105, 121.465, 31.115)+`,"reason":"case in building"}`, nil); code != http.StatusCreated {
		t.Fatalf("seal: %d", code)
	}
	offset := 12 - time.Now().UTC().Hour()
	if offset > 12 {
		offset -= 24
	}
	var current struct {
		Version int `json:"version"`
	}
	if code := do(t, "GET", s.url+"/api/v1/care-policy", f.tokens["admin"], "", &current); code != http.StatusOK {
		t.Fatalf("care policy: %d", code)
	}
	policy := fmt.Sprintf(`{"version":%d,"policy":{"period_days":14,"fever_c":37.3,"checkin_hours":[12,20],"contact_hour":1,
		"elderly_min_age":70,"child_max_age":14,"utc_offset_minutes":%d}}`, current.Version, offset*60)
	if code := do(t, "PUT", s.url+"/api/v1/care-policy", f.tokens["admin"], policy, nil); code != http.StatusOK {
		t.Fatalf("care policy: %d", code)
	}
	sections := []string{"care-isolations", "care-vulnerable", "care-missed", "care-deliveries", "care-transfers", "care-place", "care-alerts", "care-sites"}
	for _, user := range []string{"commander", "worker"} {
		for _, size := range [][2]int64{{1280, 800}, {375, 740}} {
			t.Run(fmt.Sprintf("%s at %d", user, size[0]), func(t *testing.T) {
				c := openCareAt(t, chromium, s.url, f.tokens[user], size[0], size[1])
				c.t = t
				c.poll("the panel is loaded", `document.getElementById('care-alert-count').textContent !== ''`)
				var layout struct {
					Hits   []string `json:"hits"`
					Inside bool     `json:"inside"`
					Care   []int    `json:"care"`
					Others int      `json:"others"`
				}
				measure := func(what string) {
					t.Helper()
					js, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](careOverlap))
					if err == nil {
						err = json.Unmarshal([]byte(js), &layout)
					}
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					t.Logf("%s: care panel at %v, %d other boxes", what, layout.Care, layout.Others)
				}
				check := func(what string) {
					t.Helper()
					measure(what)
					if len(layout.Hits) > 0 || !layout.Inside || layout.Others < 2 {
						t.Fatalf("%s: the care panel %v meets %v (inside the page: %v)", what, layout.Care, layout.Hits, layout.Inside)
					}
				}
				narrow := size[0] < 600
				if narrow {
					c.poll("folded on a phone", `!document.getElementById('care-main').open`)
					check("folded")
					c.do("unfold", chromedp.Click(chromedp.CSS("#care-main > summary")))
					c.poll("unfolded", `document.getElementById('care-main').open`)
				}
				for _, id := range sections {
					shown, err := chromedp.Run(c.ctx, chromedp.Evaluate[bool](`(() => { const d = document.getElementById('`+id+`-box'); return !d.hidden && !d.open; })()`))
					if err != nil {
						t.Fatal(err)
					}
					if shown {
						c.do("unfold "+id, chromedp.Click(chromedp.CSS("#"+id+"-box > summary")))
					}
				}
				if user == "commander" {
					c.poll("the missed contacts are listed", `window.gridtrace.care.missedIds().join() === '4,5' &&
						document.querySelector('#care-missed li[data-person-id="4"]').textContent.includes('no worker assigned') &&
						document.getElementById('care-missed-count').textContent === '(2)'`)
				}
				if narrow {
					// Unfolded on a phone it covers part of the map, by the user's choice,
					// but never leaves the page.
					measure("unfolded")
					if !layout.Inside {
						t.Fatalf("unfolded on a phone, the care panel %v leaves the page", layout.Care)
					}
					return
				}
				check("every section unfolded")
			})
		}
	}
}
