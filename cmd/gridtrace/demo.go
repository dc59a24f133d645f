package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"iter"
	"log/slog"
	"strconv"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/cmd/gridtrace/demodata"
	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/grid/synth"
)

// demoFlags are the flags of `gridtrace demo` besides the database and serve flags.
type demoFlags struct {
	households int
	seed       int
	noServe    bool
}

// demoBatch is how many synthetic households go to the store per batch: the load is
// one transaction either way, the batch only bounds memory.
const demoBatch = 5000

func (m *Main) runDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	var db dbFlags
	var sf serveFlags
	var df demoFlags
	m.bindDB(fs, &db)
	m.bindServe(fs, &sf)
	fs.IntVar(&df.households, "households", m.envInt("GRIDTRACE_DEMO_HOUSEHOLDS", 100_000), "synthetic households to load (env GRIDTRACE_DEMO_HOUSEHOLDS)")
	fs.IntVar(&df.seed, "seed", 1, "seed of the synthetic communities, grids and households: the same seed gives the same data")
	fs.BoolVar(&df.noServe, "no-serve", false, "load the demo data and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if df.households < 0 {
		fmt.Fprintf(m.Stderr, "--households must be 0 or more, got %d\n", df.households)
		return errUsage
	}
	log := m.logger(db.logLevel)
	pool, err := db.open(ctx, log)
	if err != nil {
		return err
	}
	defer db.close(pool, log)
	store := grid.NewStore(pool)
	if err := loadDemo(ctx, log, store, df); err != nil {
		return err
	}
	if df.noServe {
		return nil
	}
	return m.serve(ctx, store, sf, true, nil)
}

// loadDemo brings the database to the demo's state, adding only what is missing, so
// running it again does nothing new: the Shanghai streets (keyed by code), the
// synthetic communities and grids (skipped for a street that has them), the
// published cases (keyed by row), the synthetic households (keyed by
// "demo-<seed>-<n>") and one user per role. Cases and households are loaded after
// the grids so that each is assigned its grid as it is written.
func loadDemo(ctx context.Context, log *slog.Logger, store *grid.Store, df demoFlags) error {
	start := time.Now()
	step := func(name string, fn func() ([]any, error)) error {
		t := time.Now()
		attrs, err := fn()
		if err != nil {
			return fmt.Errorf("demo: %s: %w", name, err)
		}
		log.Info("demo: "+name, append(attrs, "took", time.Since(t).Round(time.Millisecond))...)
		return nil
	}
	if err := step("streets", func() ([]any, error) {
		rep, err := importDemoStreets(ctx, store)
		return []any{"inserted", rep.Inserted, "unchanged", rep.Skipped, "districts_derived", rep.Derived}, err
	}); err != nil {
		return err
	}
	if err := step("communities and grids", func() ([]any, error) {
		c, g, err := store.GenerateSubAreas(ctx, df.seed)
		return []any{"communities", c, "grids", g}, err
	}); err != nil {
		return err
	}
	if err := step("cases", func() ([]any, error) {
		rep, err := importDemoCases(ctx, store)
		return []any{"inserted", rep.Inserted, "present", rep.Skipped, "without_coordinates", len(rep.Rejected), "outside_areas", rep.Unassigned}, err
	}); err != nil {
		return err
	}
	if err := step("households", func() ([]any, error) {
		rep, err := loadDemoHouseholds(ctx, log, store, df)
		return []any{"households", df.households, "inserted", rep.Inserted, "persons", rep.Persons, "present", rep.Skipped, "outside_areas", rep.Unassigned}, err
	}); err != nil {
		return err
	}
	if err := step("sampling points", func() ([]any, error) {
		n, err := store.DemoSamplingPoints(ctx)
		return []any{"inserted", n}, err
	}); err != nil {
		return err
	}
	if err := step("users", func() ([]any, error) {
		return seedDemoUsers(ctx, store)
	}); err != nil {
		return err
	}
	t, err := store.Totals(ctx)
	if err != nil {
		return fmt.Errorf("demo: totals: %w", err)
	}
	log.Info("demo: loaded", "districts", t.Districts, "streets", t.Streets, "communities", t.Communities,
		"grids", t.Grids, "households", t.Households, "persons", t.Persons, "vulnerable", t.Vulnerable,
		"cases", t.Cases, "users", t.Users, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// importDemoStreets imports the embedded Shanghai streets, deriving the districts.
func importDemoStreets(ctx context.Context, store *grid.Store) (grid.LoadReport, error) {
	rc, err := demodata.Streets()
	if err != nil {
		return grid.LoadReport{}, err
	}
	defer rc.Close()
	return importAreas(ctx, store, rc, grid.AreaImportOptions{Level: grid.Street, NameField: "STREET", ParentField: "AREA"})
}

// importDemoCases imports the embedded published cases of 2022-04-04; the report's
// Rejected lists the rows without coordinates, left out.
func importDemoCases(ctx context.Context, store *grid.Store) (grid.LoadReport, error) {
	rc, err := demodata.Cases()
	if err != nil {
		return grid.LoadReport{}, err
	}
	defer rc.Close()
	day, err := grid.ParseTime(demodata.CasesDate, nil)
	if err != nil {
		return grid.LoadReport{}, fmt.Errorf("cases date: %w", err)
	}
	return importCases(ctx, store, rc, grid.CaseCSVOptions{ReportedAt: day, Source: demodata.CasesSource}, 0)
}

// demoAsOf is the day the synthetic residents' ages hold: the day of the embedded
// cases, so the demo is one consistent snapshot (and never depends on the clock,
// which would change the households of a seed from one day to the next).
var demoAsOf = time.Date(2022, 4, 4, 0, 0, 0, 0, time.UTC)

// loadDemoHouseholds generates the first df.households synthetic households of the
// seed over the streets' grids and loads them; those already stored (by ExtID) are
// skipped, so a larger count adds only the missing ones.
func loadDemoHouseholds(ctx context.Context, log *slog.Logger, store *grid.Store, df demoFlags) (grid.LoadReport, error) {
	prefix := "demo-" + strconv.Itoa(df.seed) + "-"
	present, err := store.HouseholdExtIDs(ctx, prefix)
	if err != nil {
		return grid.LoadReport{}, err
	}
	have := make(map[string]bool, len(present))
	for _, id := range present {
		have[id] = true
	}
	missing := 0
	for i := 1; i <= df.households; i++ {
		if !have[prefix+strconv.Itoa(i)] {
			missing++
		}
	}
	if missing == 0 {
		return grid.LoadReport{Skipped: df.households}, nil
	}
	t := time.Now()
	layouts, err := store.StreetLayouts(ctx)
	if err != nil {
		return grid.LoadReport{}, err
	}
	log.Debug("demo: street layouts read", "streets", len(layouts), "took", time.Since(t).Round(time.Millisecond))
	streets := make([]synth.Street, len(layouts))
	for i, l := range layouts {
		parts := make([]orb.MultiPolygon, len(l.Cells))
		for j, c := range l.Cells {
			parts[j] = c.Geom
		}
		streets[i] = synth.Street{District: l.District, Name: l.Name, AreaKm2: l.AreaKm2, Parts: parts}
	}
	gen, err := synth.NewGenerator(synth.Config{Seed: uint64(df.seed), AsOf: demoAsOf}, streets)
	if err != nil {
		return grid.LoadReport{}, err
	}
	// The generator still runs from the first household (the n-th depends on those
	// before it), but only the missing ones go to the store: restaging households
	// only to have the store skip them took longer than inserting them.
	rep, err := store.LoadHouseholds(ctx, demoHouseholds(gen, prefix, df.households, have))
	rep.Skipped += df.households - missing
	return rep, err
}

// demoHouseholds yields, in batches (one slice, reused), the generator's first n
// households as store inputs with ExtID prefix + number (from 1), leaving out those
// in have.
func demoHouseholds(gen *synth.Generator, prefix string, n int, have map[string]bool) iter.Seq2[[]grid.HouseholdInput, error] {
	return func(yield func([]grid.HouseholdInput, error) bool) {
		batch := make([]grid.HouseholdInput, 0, demoBatch)
		for i := 0; i < n; i++ {
			h := gen.Next()
			id := prefix + strconv.Itoa(h.Seq+1)
			if !have[id] {
				batch = append(batch, householdInput(h, id))
			}
			if len(batch) > 0 && (len(batch) == demoBatch || i == n-1) {
				if !yield(batch, nil) {
					return
				}
				batch = batch[:0]
			}
		}
	}
}

func householdInput(h synth.Household, extID string) grid.HouseholdInput {
	in := grid.HouseholdInput{
		ExtID:    extID,
		Address:  h.Address,
		Building: h.Building,
		Unit:     h.Unit,
		Location: h.Location,
		Persons:  make([]grid.PersonInput, len(h.Persons)),
	}
	for i, p := range h.Persons {
		birth := p.BirthDate
		var vs []grid.Vulnerability
		for _, v := range p.Vulnerability {
			vs = append(vs, grid.Vulnerability(v))
		}
		in.Persons[i] = grid.PersonInput{
			Name:          p.Name,
			IDNumber:      p.IDNumber,
			Phone:         p.Phone,
			BirthDate:     &birth,
			Sex:           p.Sex,
			Vulnerability: vs,
		}
	}
	return in
}

// seedDemoUsers creates (or resets) one user per role, named after the role, with the
// published password "<name>-demo": the grid worker's jurisdiction is the community
// holding the most households, everyone else's the whole city (its districts).
func seedDemoUsers(ctx context.Context, store *grid.Store) ([]any, error) {
	city, err := store.AreaIDs(ctx, grid.District)
	if err != nil {
		return nil, err
	}
	if len(city) == 0 {
		return nil, errors.New("no district to give the demo users")
	}
	community, err := store.BusiestArea(ctx, grid.Community)
	if err != nil {
		return nil, fmt.Errorf("grid worker's community: %w", err)
	}
	var names []string
	for _, role := range grid.DemoUsers {
		name := string(role)
		areas := city
		if role == grid.GridWorker {
			areas = []int64{community.ID}
		}
		if _, err := store.UpsertUser(ctx, name, grid.DemoPassword(name), role, areas); err != nil {
			return nil, fmt.Errorf("user %s: %w", name, err)
		}
		names = append(names, name+"/"+grid.DemoPassword(name))
	}
	return []any{"logins", names, "grid_worker_community", community.Code}, nil
}
