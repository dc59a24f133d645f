package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo/route"
)

const routeUsage = `usage: gridtrace route tsplib FILE [--budget 1s] [--seed N] [--kicks N]
       gridtrace route bench DIR [--budget 1s] [--seed N]

tsplib solves the instance in FILE (first line N, then N lines 'id x y'; TSPLIB
EUC_2D distances, Euclidean rounded to the nearest integer) and prints the tour as
the file's node ids on one line, then 'length=<integer>' as the last line.

bench solves every DIR/NAME.tsp that has a DIR/NAME.opt.tour and prints each
instance's size, optimum (the length of the .opt.tour), length found, gap and time;
then times a door-to-door plan of 300 households in a 3 km square of Shanghai for 5
teams (haversine distances).
`

// routeFlags are the flags of the route sub-commands.
type routeFlags struct {
	budget time.Duration
	seed   uint64
	kicks  int
}

func (m *Main) runRoute(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "tsplib" && args[0] != "bench") {
		fmt.Fprint(m.Stderr, routeUsage)
		return errUsage
	}
	what := args[0]
	fs := flag.NewFlagSet("route "+what, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() { fmt.Fprint(m.Stderr, routeUsage, "\nflags:\n"); fs.PrintDefaults() }
	var f routeFlags
	fs.DurationVar(&f.budget, "budget", time.Second, "wall-clock time per solve, construction included")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the search: with --kicks, the same seed gives the same tour")
	if what == "tsplib" {
		fs.IntVar(&f.kicks, "kicks", 0, "stop after this many perturbations (0: only the budget stops the search); makes the tour reproducible on any machine")
	}
	// The file comes before or after the flags: parse, take it, parse the rest.
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	file := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 || f.budget < 0 || f.kicks < 0 {
		fs.Usage()
		return errUsage
	}
	if what == "bench" {
		return m.routeBench(ctx, file, f)
	}
	return m.routeTSPLIB(file, f)
}

func readInstanceFile(path string) (*route.Instance, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	in, err := route.ReadInstance(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return in, nil
}

func (m *Main) routeTSPLIB(path string, f routeFlags) error {
	in, err := readInstanceFile(path)
	if err != nil {
		return err
	}
	tour, err := route.SolveTSP(len(in.IDs), in.Dist(), route.Options{Budget: f.budget, MaxKicks: f.kicks, Seed: f.seed})
	if err != nil {
		return err
	}
	w := bufio.NewWriter(m.Stdout)
	for i, v := range tour.Nodes {
		if i > 0 {
			w.WriteByte(' ')
		}
		w.WriteString(strconv.Itoa(in.IDs[v]))
	}
	fmt.Fprintf(w, "\nlength=%d\n", in.TourLength(tour.Nodes))
	return w.Flush()
}

// routeBench prints the TSPLIB table and the door-to-door timing.
func (m *Main) routeBench(ctx context.Context, dir string, f routeFlags) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.opt.tour"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("route bench: no *.opt.tour in %s", dir)
	}
	type row struct {
		name         string
		n, opt, got  int
		gap          float64
		took         time.Duration
		kicksPerNode float64
	}
	var rows []row
	for _, tf := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := strings.TrimSuffix(filepath.Base(tf), ".opt.tour")
		in, err := readInstanceFile(filepath.Join(dir, name+".tsp"))
		if err != nil {
			return err
		}
		opt, err := optimalLength(tf, in)
		if err != nil {
			return err
		}
		start := time.Now()
		tour, err := route.SolveTSP(len(in.IDs), in.Dist(), route.Options{Budget: f.budget, Seed: f.seed})
		took := time.Since(start)
		if err != nil {
			return err
		}
		got := in.TourLength(tour.Nodes)
		rows = append(rows, row{name, len(in.IDs), opt, got, 100 * float64(got-opt) / float64(opt), took, float64(tour.Kicks) / float64(len(in.IDs))})
	}
	slices.SortFunc(rows, func(a, b row) int { return a.n - b.n })
	tw := tabwriter.NewWriter(m.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "instance\tn\toptimum\tfound\tgap %%\ttime\tkicks/node\t\n")
	var sum, worst float64
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.2f\t%v\t%.0f\t\n", r.name, r.n, r.opt, r.got, r.gap, r.took.Round(time.Millisecond), r.kicksPerNode)
		sum += r.gap
		worst = max(worst, r.gap)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "mean gap %.2f%%, worst %.2f%% (budget %v, seed %d)\n\n", sum/float64(len(rows)), worst, f.budget, f.seed)
	return m.benchTeams(f)
}

func optimalLength(path string, in *route.Instance) (int, error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	tour, err := route.ReadTour(fh, in)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return in.TourLength(tour), nil
}

// benchTeams times 300 households uniform in a 3 km square around People's Square
// for 5 teams leaving from its centre: 1.2 m/s, 3 minutes a door, back to the depot.
func (m *Main) benchTeams(f routeFlags) error {
	const lat0, lng0, sideM, households, teams = 31.2304, 121.4737, 3000.0, 300, 5
	r := rand.New(rand.NewPCG(f.seed, 300))
	dLat := sideM / 111_320
	dLng := sideM / (111_320 * math.Cos(lat0*math.Pi/180))
	pts := []orb.Point{{lng0, lat0}}
	stops := make([]int, 0, households)
	for i := 0; i < households; i++ {
		pts = append(pts, orb.Point{lng0 + (r.Float64()-0.5)*dLng, lat0 + (r.Float64()-0.5)*dLat})
		stops = append(stops, i+1)
	}
	p := route.TeamProblem{N: len(pts), Dist: route.Haversine(pts), Stops: stops,
		Teams: make([]route.Team, teams), Walk: route.Walk{SpeedMPS: 1.2, Service: 3 * time.Minute, Return: true}}
	for _, run := range []struct {
		what string
		opts route.Options
	}{
		{"5,000 kicks a tour", route.Options{Budget: 2 * f.budget, MaxKicks: 5000, Seed: f.seed}},
		{fmt.Sprintf("budget %v", f.budget), route.Options{Budget: f.budget, Seed: f.seed}},
	} {
		start := time.Now()
		plan, err := route.SolveTeams(p, run.opts)
		took := time.Since(start)
		if err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "door-to-door, %d households, %d teams (%s): %v\n", households, teams, run.what, took.Round(time.Millisecond))
		for _, tr := range plan.Routes {
			fmt.Fprintf(m.Stdout, "  team %d: %3d stops, %5.0f m walked, %v\n", tr.Team, len(tr.Stops), tr.WalkM, tr.Duration)
		}
		if len(plan.Unassigned) > 0 {
			fmt.Fprintf(m.Stdout, "  unassigned: %d\n", len(plan.Unassigned))
		}
	}
	return nil
}
