package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gridtrace/gridtrace/api"
	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
	"github.com/gridtrace/gridtrace/web"
)

// EnvChromium names the variable holding the browser binary (make test sets it).
const EnvChromium = "GRIDTRACE_CHROMIUM"

// requireChromium returns the browser binary, skipping the test when run by hand
// without one and failing it under CI.
func requireChromium(t *testing.T) string {
	t.Helper()
	path := os.Getenv(EnvChromium)
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set and CI=%s: browser tests must run in CI (use make test)", EnvChromium, os.Getenv("CI"))
		}
		t.Skipf("%s not set: skipping browser test (make test sets it)", EnvChromium)
	}
	return path
}

// browser starts a headless Chromium with a throwaway profile and returns a tab
// context; page console messages are kept and logged if the test fails.
func browser(t *testing.T, execPath string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.NoSandbox, // tests run as root in containers
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 768),
		// MapLibre needs WebGL: without a GPU, Chromium renders it in software
		// through SwiftShader, which it no longer falls back to on its own.
		chromedp.Flag("use-angle", "swiftshader"),
		chromedp.Flag("enable-unsafe-swiftshader", true),
		// No calls home: the test and the app work offline.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })

	// Console starts the browser; it must not run under a timeout (see chromedp.Run).
	var mu sync.Mutex
	var lines []string
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			mu.Lock()
			lines = append(lines, m.String())
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			t.Logf("browser console:\n%s", strings.Join(lines, "\n"))
		}
	})
	return ctx
}

// TestBrowserLoginDrawsStreets logs in through the web app's form and waits until
// the map has drawn the streets layer from the areas vector tiles.
// webServer serves the API and the embedded web app on a test HTTP server.
// signedIn opens a browser of its own on url with token as its session cookie and
// gives it three minutes; the view to wait for is the caller's. The browser starts
// on the first action, which must not run under a timeout, so /healthz comes first.
func signedIn(t *testing.T, chromium, url, token string) (context.Context, error) {
	t.Helper()
	tab := browser(t, chromium)
	if err := chromedp.Do(tab, chromedp.Navigate(url+"/healthz")); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	ctx, cancel := context.WithTimeout(tab, 3*time.Minute)
	t.Cleanup(cancel)
	_, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie = "gridtrace_session=`+token+`; path=/"`))
	return ctx, err
}

// pollPage waits up to a minute for expr to be true in ctx's page; failing, it shows
// the innerText of element id (the whole body when id is "") to say what was there.
func pollPage(t *testing.T, ctx context.Context, what, expr, id string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		el := "document.body"
		if id != "" {
			el = "document.getElementById('" + id + "')"
		}
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](el+`.innerText.slice(0, 2000)`))
		t.Fatalf("%s (%s): %v\npage text:\n%s", what, expr, err, got)
	}
}

// evalString evaluates expr in ctx's page to a string.
func evalString(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func webServer(t *testing.T, store *grid.Store) *httptest.Server {
	t.Helper()
	srv := api.New(api.Config{Store: store, Web: web.FS(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// loginForm fills and submits the app's login form as the demo user name.
func loginForm(name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, _ *chromedp.Target) (chromedp.Void, error) {
		return chromedp.Void{}, chromedp.Do(ctx,
			chromedp.WaitVisible(chromedp.ID("login-form")),
			chromedp.SendKeys(chromedp.ID("name"), name),
			chromedp.SendKeys(chromedp.ID("password"), grid.DemoPassword(name)),
			chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)),
		)
	}
}

func TestBrowserLoginDrawsStreets(t *testing.T) {
	chromium := requireChromium(t)
	pool, _ := dbtest.New(t)
	store := grid.NewStore(pool)
	district := loadHuangpu(t, store, 20)
	mustUser(t, store, "commander", grid.Commander, []int64{district})
	ts := webServer(t, store)

	tab := browser(t, chromium)
	if err := chromedp.Do(tab, chromedp.Navigate(ts.URL+"/")); err != nil {
		t.Fatalf("open the app: %v", err)
	}
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	err := chromedp.Do(ctx,
		loginForm("commander"),
		chromedp.WaitVisible(chromedp.ID("map-view")),
	)
	if err != nil {
		t.Fatalf("log in: %v", err)
	}
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status-user")))
	if err != nil || !strings.Contains(status, "commander") {
		t.Fatalf("status line %q, %v", status, err)
	}

	// The map frames the user's district, fetches the areas tiles with the session
	// cookie and draws the street outlines.
	streets, err := chromedp.Run(ctx, chromedp.Poll[int](
		`window.gridtrace.map && window.gridtrace.layersRendered().streets`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		rendered, _ := chromedp.Run(tab, chromedp.Evaluate[map[string]int](`window.gridtrace.layersRendered()`))
		t.Fatalf("streets layer never rendered: %v (rendered: %v)", err, rendered)
	}
	if streets == 0 {
		t.Fatal("streets layer rendered no features")
	}

	// A households tile over the district, fetched from the page with its cookie.
	code, err := chromedp.Run(ctx, chromedp.Evaluate[int](
		`fetch(`+"`"+tilePath("households", huangpuCenter, 14)+"`"+`).then((r) => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || code != 200 {
		t.Fatalf("households tile from the page: %d, %v", code, err)
	}
	t.Logf("streets drawn: %d features", streets)
}
