package geo

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps geo a pure leaf: its code and its tests may reach only the
// standard library, orb and h3-go. In particular never pgx, echo or gorilla (the
// layering of STYLE.md), and no other package of this project.
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list dependencies: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-test", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps -test: %v\n%s", err, out)
	}
	allowed := []string{"github.com/paulmach/orb", "github.com/uber/h3-go/v4", "github.com/gridtrace/gridtrace/geo"}
	forbidden := []string{"github.com/jackc/pgx", "github.com/labstack/echo", "github.com/gorilla/"}
	checked := 0
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "[") {
			continue // "[geo.test]": the variant a package is built for
		}
		checked++
		for _, f := range forbidden {
			if strings.HasPrefix(pkg, f) {
				t.Errorf("geo depends on %s: database, HTTP and websocket code stay out of geo", pkg)
			}
		}
		if first, _, _ := strings.Cut(pkg, "/"); !strings.Contains(first, ".") {
			continue // the standard library
		}
		ok := false
		for _, a := range allowed {
			if pkg == a || strings.HasPrefix(pkg, a+"/") || strings.HasPrefix(pkg, a+".") {
				ok = true
			}
		}
		if !ok {
			t.Errorf("geo depends on %s; it may use only the standard library, orb and h3-go", pkg)
		}
	}
	if checked < 10 {
		t.Fatalf("go list gave only %d packages:\n%s", checked, out)
	}
}
