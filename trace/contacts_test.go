package trace_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/migrations/dbtest"
	"github.com/gridtrace/gridtrace/trace"
	"github.com/gridtrace/gridtrace/trace/copresence"
	"github.com/gridtrace/gridtrace/trace/geolifetest"
	"github.com/gridtrace/gridtrace/trace/stay"
	"github.com/gridtrace/gridtrace/trace/track"
)

// TestContactsMatchPureSearch is the differential test of the store's search: on
// the GeoLife sample loaded into PostGIS, every user in turn as the case, degree 2,
// the contacts read back through the (h3, ts) candidate loads equal those of the
// pure trace/copresence search over all the users' files, to the encounter — for the
// default rule (probing the stored resolution-10 cells), a 100 m rule (probing
// resolution-9 parents by ranges of stored cells) and the companion rule.
func TestContactsMatchPureSearch(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t)
	pol := trace.DefaultPolicy()
	pol.MaxWindow = 60 * 24 * time.Hour // the sample spans three weeks: compare it whole
	st, err := trace.NewStore(pool, pol)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	trajs, committed := geolifetest.Trajectories(t)
	rep, err := st.IngestPings(ctx, tracer, "geolife", trajs)
	if err != nil {
		t.Fatal(err)
	}
	extOf := map[string]string{} // subject id → GeoLife user
	idOf := map[string]int64{}
	for _, sb := range rep.Subjects {
		extOf[strconv.FormatInt(sb.ID, 10)] = sb.ExtID
		idOf[sb.ExtID] = sb.ID
	}
	dur := func(d time.Duration) *time.Duration { return &d }
	res := func(r int) *int { return &r }
	cases := []struct {
		name string
		q    trace.ContactQuery
		pure func() (*copresence.Index, error)
	}{
		{"default 20m", trace.ContactQuery{Degree: 2}, func() (*copresence.Index, error) {
			return copresence.NewIndex(trajs, pol.ContactRule())
		}},
		{"100m tolerance 10m no minimum", trace.ContactQuery{Degree: 2, DistanceM: 100, Tolerance: dur(10 * time.Minute), MinDuration: dur(0)},
			func() (*copresence.Index, error) {
				return copresence.NewIndex(trajs, copresence.Rule{Version: pol.Version, DistanceM: 100, Tolerance: 10 * time.Minute})
			}},
		{"companion res 8", trace.ContactQuery{Rule: trace.Companion, Res: res(8)}, func() (*copresence.Index, error) {
			return copresence.NewCompanionIndex(trajs, pol.CompanionRule())
		}},
	}
	found := 0
	for _, tc := range cases {
		ix, err := tc.pure()
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range trajs {
			if len(tr.Pings) == 0 {
				continue
			}
			t.Run(tc.name+"/case="+tr.Person, func(t *testing.T) {
				from, to := tr.Pings[0].Time, tr.Pings[len(tr.Pings)-1].Time
				q := tc.q
				q.Case, q.From, q.To = idOf[tr.Person], &from, &to
				got, err := st.FindContacts(ctx, tracer, q)
				if err != nil {
					t.Fatal(err)
				}
				depth := 2
				if tc.q.Rule == trace.Companion {
					depth = 1
				}
				want, err := ix.Trace(copresence.Query{Case: tr.Person, From: from, To: to, Depth: depth})
				if err != nil {
					t.Fatal(err)
				}
				if g, w := describeStore(got.Contacts, extOf), describePure(want); g != w {
					t.Fatalf("store search:\n%s\npure search:\n%s", g, w)
				}
				found += len(want)
				if got.CasePings != len(track.Between(tr.Pings, from, to)) {
					t.Errorf("case pings %d, want %d", got.CasePings, len(tr.Pings))
				}
				wantStays := stay.Detect(tr.Pings, pol.StayRadiusM, pol.StayMin)
				if len(got.Stays) != len(wantStays) {
					t.Errorf("%d stays, want %d", len(got.Stays), len(wantStays))
				}
			})
		}
	}
	// The sample's users 003, 004 and 005 really met: the test must see it.
	if committed && found == 0 {
		t.Fatal("no contacts at all in the GeoLife sample")
	}
	if committed {
		got, err := st.FindContacts(ctx, tracer, trace.ContactQuery{Case: idOf["003"], Degree: 1})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range got.Contacts {
			names = append(names, fmt.Sprintf("%s:%d", c.Subject.ExtID, c.Minutes))
		}
		if strings.Join(names, " ") != "005:135 004:95" {
			t.Errorf("contacts of 003 in its last 14 days: %v", names)
		}
	}
}

// describeStore and describePure print contacts in one canonical form (GeoLife user
// ids, pure order: degree, minutes, person) to compare them whole.
func describeStore(cs []trace.Contact, extOf map[string]string) string {
	var pure []copresence.Contact
	for _, c := range cs {
		pc := copresence.Contact{Person: c.Subject.ExtID, Degree: c.Degree, Minutes: c.Minutes, Encounters: c.Encounters}
		if c.Via != 0 {
			pc.Via = extOf[strconv.FormatInt(c.Via, 10)]
		}
		pure = append(pure, pc)
	}
	return describePure(sortPure(pure))
}

func sortPure(cs []copresence.Contact) []copresence.Contact {
	out := append([]copresence.Contact(nil), cs...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && lessPure(out[j], out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func lessPure(a, b copresence.Contact) bool {
	if a.Degree != b.Degree {
		return a.Degree < b.Degree
	}
	if a.Minutes != b.Minutes {
		return a.Minutes > b.Minutes
	}
	return a.Person < b.Person
}

func describePure(cs []copresence.Contact) string {
	var b strings.Builder
	for _, c := range sortPure(cs) {
		fmt.Fprintf(&b, "%s degree=%d via=%s minutes=%d\n", c.Person, c.Degree, c.Via, c.Minutes)
		for _, e := range c.Encounters {
			fmt.Fprintf(&b, "  %s–%s %d min %.9f m at %v\n", e.Start.Format(time.RFC3339), e.End.Format(time.RFC3339), e.Minutes, e.MinDistanceM, e.Where)
		}
	}
	return b.String()
}

// TestTraceContactsStoresRun: a stored run reads back as computed, ranked by minutes
// then closeness, with the case's stays numbered; CSV export is audited.
func TestTraceContactsStoresRun(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	ctx := context.Background()
	trajs, committed := geolifetest.Trajectories(t)
	if !committed {
		t.Skip("needs the committed sample's users 003 and 005")
	}
	var two []track.Trajectory
	for _, tr := range trajs {
		if tr.Person == "003" || tr.Person == "005" || tr.Person == "004" {
			two = append(two, tr)
		}
	}
	rep, err := st.IngestPings(ctx, tracer, "geolife", two)
	if err != nil {
		t.Fatal(err)
	}
	caseID := rep.Subjects[0].ID // 003
	run, err := st.TraceContacts(ctx, tracer, trace.ContactQuery{Case: caseID})
	if err != nil {
		t.Fatal(err)
	}
	if run.ID == 0 || len(run.Contacts) != 2 || run.Contacts[0].Subject.ExtID != "005" || run.Contacts[0].Rank != 1 || run.Contacts[1].Subject.ExtID != "004" {
		t.Fatalf("run %+v", run)
	}
	if len(run.Stays) == 0 {
		t.Fatal("no stays for 003")
	}
	back, err := st.GetRun(ctx, tracer, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if describeRun(back) != describeRun(run) || back.Rule != run.Rule || !back.Window.From.Equal(run.Window.From) || len(back.Stays) != len(run.Stays) {
		t.Fatalf("read back:\n%s\nstored:\n%s", describeRun(back), describeRun(run))
	}
	latest, err := st.LatestRun(ctx, tracer, caseID)
	if err != nil || latest.ID != run.ID {
		t.Fatalf("latest run %d, %v", latest.ID, err)
	}
	var rule, version string
	if err := pool.QueryRow(ctx, `SELECT rule, rule_version FROM trace_runs WHERE id = $1`, run.ID).Scan(&rule, &version); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rule, version+" close-contact distance=20m") {
		t.Errorf("rule %q version %q", rule, version)
	}
	if _, err := st.ExportRun(ctx, tracer, run.ID); err != nil {
		t.Fatal(err)
	}
	var exports int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = $1 AND entity_id = $2`, trace.AuditExportContacts, run.ID).Scan(&exports); err != nil || exports != 1 {
		t.Fatalf("export audit rows %d, %v", exports, err)
	}
	if _, err := st.GetRun(ctx, tracer, run.ID+100); grid.KindOf(err) != grid.NotFound {
		t.Errorf("unknown run: %v", err)
	}
}

func describeRun(r trace.Run) string {
	var b strings.Builder
	for _, c := range r.Contacts {
		fmt.Fprintf(&b, "#%d %s d%d %d min %.6f m %s–%s %d encounters\n", c.Rank, c.Subject.ExtID, c.Degree, c.Minutes, c.MinDistanceM,
			c.FirstAt.Format(time.RFC3339), c.LastAt.Format(time.RFC3339), len(c.Encounters))
		for _, e := range c.Encounters {
			fmt.Fprintf(&b, "  %s %s %d %.9f %v\n", e.Start.Format(time.RFC3339), e.End.Format(time.RFC3339), e.Minutes, e.MinDistanceM, e.Where)
		}
	}
	return b.String()
}

// TestContactsSQLAgrees: the straightforward PostGIS query (both plans) finds the
// same degree-1 contacts and minutes as the store's search on GeoLife.
func TestContactsSQLAgrees(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	ctx := context.Background()
	trajs, _ := geolifetest.Trajectories(t)
	rep, err := st.IngestPings(ctx, tracer, "geolife", trajs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateGeographyIndex(ctx); err != nil {
		t.Fatal(err)
	}
	pol := st.Policy()
	for _, sb := range rep.Subjects {
		ours, err := st.FindContacts(ctx, tracer, trace.ContactQuery{Case: sb.ID, Degree: 1})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, c := range ours.Contacts {
			want = append(want, fmt.Sprintf("%d:%d", c.Subject.ID, c.Minutes))
		}
		for _, plan := range []trace.SQLPlan{trace.SQLGeography, trace.SQLGeometryBox} {
			sqlc, err := st.ContactsSQL(ctx, sb.ID, ours.Window.From, ours.Window.To, pol.ContactRule(), plan)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range sqlc {
				got = append(got, fmt.Sprintf("%d:%d", c.Subject, c.Minutes))
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("case %s plan %d: SQL %v, search %v", sb.ExtID, plan, got, want)
			}
		}
	}
}
