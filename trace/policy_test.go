package trace_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gridtrace/gridtrace/trace"
)

func TestDefaultPolicy(t *testing.T) {
	p := trace.DefaultPolicy()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	r := p.ContactRule()
	if r.DistanceM != 20 || r.Tolerance != 5*time.Minute || r.MinDuration != 15*time.Minute || r.Version != p.Version {
		t.Errorf("contact rule %+v", r)
	}
	c := p.CompanionRule()
	if c.Res != 8 || c.MinDuration != 10*time.Minute {
		t.Errorf("companion rule %+v", c)
	}
	if !strings.HasPrefix(r.String(), p.Version+" close-contact distance=20m tolerance=5m0s min=15m0s") {
		t.Errorf("rule string %q", r.String())
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*trace.Policy)
		msg    string
	}{
		{"no version", func(p *trace.Policy) { p.Version = "" }, "version"},
		{"zero distance", func(p *trace.Policy) { p.DistanceM = 0 }, "distance"},
		{"negative tolerance", func(p *trace.Policy) { p.Tolerance = -time.Second }, "tolerance"},
		{"companion res 16", func(p *trace.Policy) { p.CompanionRes = 16 }, "resolution 16"},
		{"depth 3", func(p *trace.Policy) { p.Depth = 3 }, "depth 3"},
		{"negative look-back", func(p *trace.Policy) { p.LookBack = -time.Hour }, "look-back"},
		{"no stay radius", func(p *trace.Policy) { p.StayRadiusM = 0 }, "stay radius"},
		{"no window", func(p *trace.Policy) { p.MaxWindow = 0 }, "max window"},
		{"ping res 16", func(p *trace.Policy) { p.PingRes = 16 }, "ping H3 resolution 16"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := trace.DefaultPolicy()
			tc.change(&p)
			if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one containing %q", err, tc.msg)
			}
		})
	}
}
