package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo/route"
	"github.com/gridtrace/gridtrace/grid"
)

const benchSamplingUsage = `usage: gridtrace bench sampling [--households 50000] [--seed 1] [--teams 5] [--stops 300] [flags]

Loads the demo (streets, synthetic communities and grids, --households synthetic
households, one sampling point per community) into a throwaway database on the
server of --db (or the local cluster), then
  (a) starts a round over the whole district holding the most households, as admin,
      through the store (the same call as POST /api/v1/sampling/rounds), and
      reports its time, every household's fate, the walking distances (median,
      p95, max) and checks in SQL that no point's slot holds more than its
      capacity;
  (b) splits --stops households over --teams teams with the route solver: around
      the sampling point with the most door-to-door households within 1 km, the
      round's households nearest it (as if a sealed zone kept them home); depots at
      the --teams points nearest it; 8-hour shifts, 5 minutes per stop, 4 km/h;
      reports the time and the plan;
  (c) plans the round's real door-to-door list for --teams teams through the store
      (POST /api/v1/sampling/rounds/:id/routes) and reports its time.
The database is dropped afterwards unless --keep-db.
`

// runBenchSampling runs `gridtrace bench sampling`.
func (m *Main) runBenchSampling(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench sampling", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() { fmt.Fprint(m.Stderr, benchSamplingUsage, "\nflags:\n"); fs.PrintDefaults() }
	var db dbFlags
	var households, seed, teams, stops int
	var keep bool
	m.bindDB(fs, &db)
	fs.IntVar(&households, "households", 50_000, "synthetic households of the demo")
	fs.IntVar(&seed, "seed", 1, "seed of the demo data")
	fs.IntVar(&teams, "teams", 5, "door-to-door teams")
	fs.IntVar(&stops, "stops", 300, "door-to-door households for (b)")
	fs.BoolVar(&keep, "keep-db", false, "keep the benchmark database")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if households <= 0 || teams <= 0 || stops <= 0 || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	log := m.logger(db.logLevel)
	store, cleanup, err := m.benchStore(ctx, log, db, keep)
	if err != nil {
		return err
	}
	defer cleanup()
	t0 := time.Now()
	if err := loadDemo(ctx, log, store, demoFlags{households: households, seed: seed, noServe: true}); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "bench sampling: demo with %d households loaded in %s\n", households, time.Since(t0).Round(time.Millisecond))
	pool := store.Pool()
	var district int64
	var name string
	var points int
	if err := pool.QueryRow(ctx, `
		SELECT d.id, d.name, (SELECT count(*) FROM sampling_points p JOIN areas a ON a.id = p.area_id WHERE a.ancestors @> ARRAY[d.id])
		FROM areas d JOIN areas g ON d.id = ANY(g.ancestors) JOIN households h ON h.area_id = g.id
		WHERE d.level = 'district' GROUP BY d.id, d.name ORDER BY count(*) DESC, d.id LIMIT 1`).Scan(&district, &name, &points); err != nil {
		return fmt.Errorf("bench sampling: busiest district: %w", err)
	}
	admin := grid.Caller{User: grid.User{Role: grid.Admin}, Route: "bench sampling"}

	// (a) the round.
	t0 = time.Now()
	r, err := store.CreateRound(ctx, admin, grid.RoundInput{Name: "bench " + name, AreaID: district, Date: "2022-04-10"})
	if err != nil {
		return fmt.Errorf("bench sampling: round: %w", err)
	}
	took := time.Since(t0)
	st := r.Stats
	fmt.Fprintf(m.Stdout, "(a) round over %s (district %d, %d sampling points): %s (assignment itself %d ms)\n",
		name, district, points, took.Round(time.Millisecond), st.AssignMillis)
	fmt.Fprintf(m.Stdout, "    %d households, %d persons: %d to a point, %d door to door, %d without capacity; %d overloaded points\n",
		st.Households, st.Persons, st.AssignedHouseholds, st.DoorToDoorHouseholds, st.NoCapacityHouseholds, len(st.Overloaded))
	fmt.Fprintf(m.Stdout, "    walk to the point: median %.0f m, p95 %.0f m, max %.0f m; %d households beyond %.0f m; %d new points suggested\n",
		st.Walk.Median, st.Walk.P95, st.Walk.Max, st.FarHouseholds, r.WalkLimitM, len(st.Suggested))
	var over, slots int
	var worst float64
	if err := pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE x.n > x.cap), count(*), COALESCE(max(x.n::float8 / x.cap), 0) FROM (
		  SELECT sa.point_id, sa.slot_start, sum(sa.persons) AS n, p.capacity_per_hour * r.slot_minutes / 60 AS cap
		  FROM sampling_assignments sa JOIN sampling_points p ON p.id = sa.point_id JOIN sampling_rounds r ON r.id = sa.round_id
		  WHERE sa.round_id = $1 GROUP BY sa.point_id, sa.slot_start, p.capacity_per_hour, r.slot_minutes) x`, r.ID).Scan(&over, &slots, &worst); err != nil {
		return fmt.Errorf("bench sampling: capacity check: %w", err)
	}
	var inDistrict, assigned int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM households h JOIN areas a ON a.id = h.area_id WHERE a.ancestors @> ARRAY[$2::bigint]),
		(SELECT count(*) FROM sampling_assignments WHERE round_id = $1)`, r.ID, district).Scan(&inDistrict, &assigned); err != nil {
		return fmt.Errorf("bench sampling: household check: %w", err)
	}
	fmt.Fprintf(m.Stdout, "    check: %d of %d district households in the round; %d of %d point-slots over capacity (fullest at %.0f%%)\n",
		assigned, inDistrict, over, slots, 100*worst)
	if over > 0 || assigned != inDistrict {
		return fmt.Errorf("bench sampling: the round broke a rule: %d slots over capacity, %d of %d households", over, assigned, inDistrict)
	}

	// (b) the solver on a fixed-size door-to-door set: the --stops households of the
	// round nearest the sampling point with the most door-to-door households within
	// 1 km (a neighbourhood whose residents all stay home, as in a sealed zone),
	// depots at the --teams points nearest it.
	var hub orb.Point
	if err := pool.QueryRow(ctx, `SELECT ST_X(p.geom), ST_Y(p.geom) FROM sampling_points p JOIN areas a ON a.id = p.area_id
		WHERE a.ancestors @> ARRAY[$2::bigint]
		ORDER BY (SELECT count(*) FROM sampling_assignments sa JOIN households h ON h.id = sa.household_id
		          WHERE sa.round_id = $1 AND sa.door_to_door AND ST_DWithin(h.geom::geography, p.geom::geography, 1000)) DESC, p.id
		LIMIT 1`, r.ID, district).Scan(&hub[0], &hub[1]); err != nil {
		return fmt.Errorf("bench sampling: hub: %w", err)
	}
	var pts []orb.Point
	rows, err := pool.Query(ctx, `SELECT ST_X(geom), ST_Y(geom) FROM sampling_points
		ORDER BY geom <-> ST_SetSRID(ST_MakePoint($1, $2), 4326), id LIMIT $3`, hub[0], hub[1], teams)
	if err != nil {
		return fmt.Errorf("bench sampling: depots: %w", err)
	}
	for rows.Next() {
		var p orb.Point
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			rows.Close()
			return err
		}
		pts = append(pts, p)
	}
	rows.Close()
	depots := len(pts)
	var d2d int
	rows, err = pool.Query(ctx, `SELECT x, y, door FROM (
		  SELECT ST_X(h.geom) AS x, ST_Y(h.geom) AS y, sa.door_to_door AS door, h.id,
		         ST_Distance(h.geom::geography, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography) AS d
		  FROM sampling_assignments sa JOIN households h ON h.id = sa.household_id WHERE sa.round_id = $1
		  ORDER BY h.geom <-> ST_SetSRID(ST_MakePoint($2, $3), 4326) LIMIT $4 * 2) c
		ORDER BY d, id LIMIT $4`, r.ID, hub[0], hub[1], stops)
	if err != nil {
		return fmt.Errorf("bench sampling: stops: %w", err)
	}
	for rows.Next() {
		var p orb.Point
		var door bool
		if err := rows.Scan(&p[0], &p[1], &door); err != nil {
			rows.Close()
			return err
		}
		if door {
			d2d++
		}
		pts = append(pts, p)
	}
	rows.Close()
	prob := route.TeamProblem{N: len(pts), Dist: route.Haversine(pts),
		Walk: route.Walk{SpeedMPS: 4 / 3.6, Service: 5 * time.Minute, Return: true}}
	for i := range teams {
		prob.Teams = append(prob.Teams, route.Team{Depot: i % max(depots, 1), ShiftLimit: 8 * time.Hour})
	}
	for i := depots; i < len(pts); i++ {
		prob.Stops = append(prob.Stops, i)
	}
	t0 = time.Now()
	plan, err := route.SolveTeams(prob, route.Options{Budget: 1500 * time.Millisecond, MaxKicks: 20 * len(prob.Stops), Seed: 1})
	if err != nil {
		return fmt.Errorf("bench sampling: solve: %w", err)
	}
	took = time.Since(t0)
	var per []int
	var longest time.Duration
	walk := 0.0
	for _, tr := range plan.Routes {
		per = append(per, len(tr.Stops))
		longest = max(longest, tr.Duration)
		walk += tr.WalkM
	}
	fmt.Fprintf(m.Stdout, "(b) %d door-to-door stops (%d of them on the round's list) over %d teams: %s\n",
		len(prob.Stops), d2d, teams, took.Round(time.Millisecond))
	fmt.Fprintf(m.Stdout, "    stops per team %v, longest shift %s, walked %.1f km in all, %d unassigned\n",
		per, longest.Round(time.Minute), walk/1000, len(plan.Unassigned))

	// (c) the store's plan of the round's own list, from the same depots: teams of
	// one neighbourhood cannot reach a whole district in a shift, so most of the list
	// is expected back as unassigned; this times the API's path.
	ts := make([]grid.TeamInput, teams)
	for i := range ts {
		ts[i] = grid.TeamInput{Name: fmt.Sprintf("team %d", i+1), Depot: pts[i%max(depots, 1)], ShiftMinutes: 480}
	}
	t0 = time.Now()
	rp, err := store.PlanRoutes(ctx, admin, r.ID, grid.RoutesInput{Teams: ts, Seed: 1, BudgetMS: 1500})
	if err != nil {
		return fmt.Errorf("bench sampling: plan routes: %w", err)
	}
	took = time.Since(t0)
	n := 0
	per = per[:0]
	for _, t := range rp.Teams {
		n += len(t.Stops)
		per = append(per, len(t.Stops))
	}
	slices.Sort(per)
	fmt.Fprintf(m.Stdout, "(c) the round's %d door-to-door households, district-wide, over %d teams from those depots: %s; %d on routes %v, %d unassigned\n",
		st.DoorToDoorHouseholds, teams, took.Round(time.Millisecond), n, per, len(rp.Unassigned))
	return nil
}
