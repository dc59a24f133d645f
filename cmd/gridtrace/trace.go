package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/gridtrace/gridtrace/trace"
	"github.com/gridtrace/gridtrace/trace/copresence"
	"github.com/gridtrace/gridtrace/trace/stay"
	"github.com/gridtrace/gridtrace/trace/track"
)

const traceUsage = `usage:
  gridtrace trace contacts   (--geolife DIR | --csv FILE) --case ID [--distance 20] [--tolerance 5m]
                             [--min-duration 15m] [--from T] [--to T] [--degree 1]
  gridtrace trace companions (--geolife DIR | --csv FILE) --case ID [--res 8] [--tolerance 5m]
                             [--min-duration 10m] [--from T] [--to T]
  gridtrace trace stays      (--geolife DIR | --csv FILE) --person ID [--radius 200] [--min-duration 30m]

Offline flow tracing from files, no database. --geolife reads DIR/<person>/Trajectory/*.plt
(GeoLife's Data folder; the folder name is the person id, times are UTC); --csv reads
person,time,lat,lng rows (RFC 3339 times; FILE.gz is decompressed). Times T are RFC 3339,
or 2008-10-23 15:04:05 or 2008-10-23 in UTC; --from and --to bound the case's pings,
both inclusive. Durations are Go durations: 5m, 90s, 1h30m.

contacts and companions print one JSON object per line, most exposed minutes first:
  {"person":"003","degree":1,"minutes":95,"encounters":[{"start":"...","end":"...",
   "minutes":8,"min_distance_m":0.8,"where":[lng,lat]}],"rule":"..."}
minutes are distinct UTC minutes of the case's pings with a ping of the person within
--distance metres and --tolerance; an encounter runs while exposed minutes are at most
--tolerance apart, from the start of its first to the start of its last minute.
stays prints {"arrival","departure","minutes","lng","lat","pings"} per stay.
`

// traceFlags are the flags of the trace sub-commands.
type traceFlags struct {
	geolife, csv string
	person       string
	distanceM    float64
	tolerance    time.Duration
	minDuration  time.Duration
	from, to     string
	degree       int
	res          int
	radiusM      float64
}

// runTrace runs `gridtrace trace contacts|companions|stays`.
func (m *Main) runTrace(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "contacts" && args[0] != "companions" && args[0] != "stays") {
		fmt.Fprint(m.Stderr, traceUsage)
		return errUsage
	}
	what := args[0]
	pol := trace.DefaultPolicy()
	fs := flag.NewFlagSet("trace "+what, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() { fmt.Fprint(m.Stderr, traceUsage, "\nflags:\n"); fs.PrintDefaults() }
	var f traceFlags
	fs.StringVar(&f.geolife, "geolife", "", "GeoLife Data folder: DIR/<person>/Trajectory/*.plt")
	fs.StringVar(&f.csv, "csv", "", "CSV file of pings: person,time,lat,lng")
	switch what {
	case "contacts", "companions":
		fs.StringVar(&f.person, "case", "", "person id of the case (a GeoLife user folder name)")
		durationFlag(fs, &f.tolerance, "tolerance", pol.Tolerance, "greatest time gap (a `duration`) of a co-located pair, and of exposed minutes within one encounter")
		fs.StringVar(&f.from, "from", "", "first instant of the case's pings to search (default: the first ping)")
		fs.StringVar(&f.to, "to", "", "last instant of the case's pings to search (default: the last ping)")
	case "stays":
		fs.StringVar(&f.person, "person", "", "person id")
		fs.Float64Var(&f.radiusM, "radius", pol.StayRadiusM, "stay radius in metres")
		durationFlag(fs, &f.minDuration, "min-duration", pol.StayMin, "least time (a `duration`) within the radius")
	}
	switch what {
	case "contacts":
		fs.Float64Var(&f.distanceM, "distance", pol.DistanceM, "greatest distance of a co-located pair, in metres")
		durationFlag(fs, &f.minDuration, "min-duration", pol.MinDuration, "least total (a `duration`) of exposed minutes for a contact")
		fs.IntVar(&f.degree, "degree", 1, "1: close contacts; 2: also contacts of contacts")
	case "companions":
		fs.IntVar(&f.res, "res", pol.CompanionRes, "H3 resolution of the shared cell")
		durationFlag(fs, &f.minDuration, "min-duration", pol.CompanionMin, "time (a `duration`) in the same cell that must be exceeded")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err) // exit 2, like any usage error
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(m.Stderr, "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	if (f.geolife == "") == (f.csv == "") {
		fmt.Fprintln(m.Stderr, "give exactly one of --geolife DIR or --csv FILE")
		fs.Usage()
		return errUsage
	}
	if f.person == "" {
		fmt.Fprintf(m.Stderr, "give the person: --%s ID\n", map[bool]string{true: "person", false: "case"}[what == "stays"])
		fs.Usage()
		return errUsage
	}
	trajs, source, err := readTrajectories(f)
	if err != nil {
		return err
	}
	if what == "stays" {
		return m.traceStays(trajs, source, f)
	}
	from, err := parseTraceTime("--from", f.from)
	if err != nil {
		return err
	}
	to, err := parseTraceTime("--to", f.to)
	if err != nil {
		return err
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return fmt.Errorf("--to %s is before --from %s", f.to, f.from)
	}
	q := copresence.Query{Case: f.person, From: from, To: to, Depth: f.degree}
	if what == "companions" {
		q.Depth = 1
	}
	span := pingSpan(trajs, f.person)
	// Only pings within the tolerance of the window can pair with the case's pings in
	// it; a contact's pings are searched from the start of its first exposed minute,
	// at most a minute before --from. Fewer pings, a smaller index, the same answer.
	trimTrajectories(trajs, from, to, f.tolerance+time.Minute)
	var ix *copresence.Index
	if what == "contacts" {
		pol.DistanceM, pol.Tolerance, pol.MinDuration = f.distanceM, f.tolerance, f.minDuration
		ix, err = copresence.NewIndex(trajs, pol.ContactRule())
	} else {
		pol.CompanionRes, pol.Tolerance, pol.CompanionMin = f.res, f.tolerance, f.minDuration
		ix, err = copresence.NewCompanionIndex(trajs, pol.CompanionRule())
	}
	if err != nil {
		return err
	}
	contacts, err := ix.Trace(q)
	switch {
	case errors.Is(err, copresence.ErrUnknownPerson):
		return fmt.Errorf("case %q is not in %s (persons: %s)", f.person, source, personList(trajs))
	case errors.Is(err, copresence.ErrNoPings):
		return fmt.Errorf("case %q has no pings %s in %s%s", f.person, windowText(from, to), source, span)
	case err != nil:
		return err
	}
	return writeContacts(m.Stdout, contacts)
}

// traceDuration is a duration flag that explains a bad value (a bare number is
// refused: minutes or seconds would be a guess) and refuses negative durations.
type traceDuration struct{ d *time.Duration }

// durationFlag defines a traceDuration flag with its default.
func durationFlag(fs *flag.FlagSet, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	fs.Var(traceDuration{p}, name, usage)
}

func (v traceDuration) String() string {
	if v.d == nil {
		return ""
	}
	return v.d.String()
}

func (v traceDuration) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as 5m, 90s or 1h30m")
	}
	if d < 0 {
		return fmt.Errorf("must not be negative")
	}
	*v.d = d
	return nil
}

// readTrajectories reads --geolife or --csv and names the source for messages.
func readTrajectories(f traceFlags) ([]track.Trajectory, string, error) {
	if f.geolife != "" {
		st, err := os.Stat(f.geolife)
		if err != nil {
			return nil, "", err
		}
		if !st.IsDir() {
			return nil, "", fmt.Errorf("--geolife %s is not a folder", f.geolife)
		}
		trajs, err := track.ReadGeoLife(os.DirFS(f.geolife))
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", f.geolife, err)
		}
		return trajs, f.geolife, nil
	}
	file, err := os.Open(f.csv)
	if err != nil {
		return nil, "", err
	}
	defer file.Close()
	var r io.Reader = file
	if strings.HasSuffix(f.csv, ".gz") {
		zr, err := gzip.NewReader(file)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", f.csv, err)
		}
		r = zr
	}
	trajs, err := track.ReadCSV(r, f.csv)
	return trajs, f.csv, err
}

// trimTrajectories keeps the pings within margin of [from, to] (zero: open).
func trimTrajectories(trajs []track.Trajectory, from, to time.Time, margin time.Duration) {
	if !from.IsZero() {
		from = from.Add(-margin)
	}
	if !to.IsZero() {
		to = to.Add(margin)
	}
	for i := range trajs {
		trajs[i].Pings = track.Between(trajs[i].Pings, from, to)
	}
}

// parseTraceTime reads a --from/--to value: RFC 3339, or a UTC date and time as in
// GeoLife files, or a UTC date (its midnight). Empty means open.
func parseTraceTime(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s %q: want RFC 3339 (2008-10-23T02:53:04Z) or a UTC time 2008-10-23 02:53:04 or a date 2008-10-23", flagName, s)
}

func windowText(from, to time.Time) string {
	switch {
	case from.IsZero() && to.IsZero():
		return "at all"
	case from.IsZero():
		return "up to " + to.Format(time.RFC3339)
	case to.IsZero():
		return "from " + from.Format(time.RFC3339)
	}
	return "between " + from.Format(time.RFC3339) + " and " + to.Format(time.RFC3339)
}

// pingSpan tells, for the message about an empty window, when the person's pings
// are; empty when the person has none.
func pingSpan(trajs []track.Trajectory, person string) string {
	for _, tr := range trajs {
		if tr.Person == person && len(tr.Pings) > 0 {
			return fmt.Sprintf(" (its pings run from %s to %s)", tr.Pings[0].Time.Format(time.RFC3339), tr.Pings[len(tr.Pings)-1].Time.Format(time.RFC3339))
		}
	}
	return ""
}

func personList(trajs []track.Trajectory) string {
	const show = 20
	var ids []string
	for i, tr := range trajs {
		if i == show {
			ids = append(ids, fmt.Sprintf("… %d more", len(trajs)-show))
			break
		}
		ids = append(ids, tr.Person)
	}
	return strings.Join(ids, " ")
}

// contactJSON is one output line of trace contacts and companions.
type contactJSON struct {
	Person     string          `json:"person"`
	Degree     int             `json:"degree"`
	Via        string          `json:"via,omitempty"`
	Minutes    int             `json:"minutes"`
	Encounters []encounterJSON `json:"encounters"`
	Rule       string          `json:"rule"`
}

type encounterJSON struct {
	Start        string     `json:"start"`
	End          string     `json:"end"`
	Minutes      int        `json:"minutes"`
	MinDistanceM float64    `json:"min_distance_m"`
	Where        [2]float64 `json:"where"`
}

func writeContacts(w io.Writer, contacts []copresence.Contact) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, c := range contacts {
		out := contactJSON{Person: c.Person, Degree: c.Degree, Via: c.Via, Minutes: c.Minutes, Rule: c.Rule, Encounters: []encounterJSON{}}
		for _, e := range c.Encounters {
			out.Encounters = append(out.Encounters, encounterJSON{
				Start:        e.Start.UTC().Format(time.RFC3339),
				End:          e.End.UTC().Format(time.RFC3339),
				Minutes:      e.Minutes,
				MinDistanceM: e.MinDistanceM,
				Where:        [2]float64{e.Where[0], e.Where[1]},
			})
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// stayJSON is one output line of trace stays.
type stayJSON struct {
	Arrival   string  `json:"arrival"`
	Departure string  `json:"departure"`
	Minutes   float64 `json:"minutes"` // to 0.1 min
	Lng       float64 `json:"lng"`
	Lat       float64 `json:"lat"`
	Pings     int     `json:"pings"`
}

func (m *Main) traceStays(trajs []track.Trajectory, source string, f traceFlags) error {
	if !(f.radiusM > 0) || f.minDuration < 0 {
		return fmt.Errorf("--radius %g, --min-duration %s: want a positive radius and a non-negative duration", f.radiusM, f.minDuration)
	}
	for _, tr := range trajs {
		if tr.Person != f.person {
			continue
		}
		bw := bufio.NewWriter(m.Stdout)
		enc := json.NewEncoder(bw)
		for _, s := range stay.Detect(tr.Pings, f.radiusM, f.minDuration) {
			if err := enc.Encode(stayJSON{
				Arrival: s.Arrival.UTC().Format(time.RFC3339), Departure: s.Departure.UTC().Format(time.RFC3339),
				Minutes: math.Round(s.Duration().Minutes()*10) / 10, Lng: s.Centroid[0], Lat: s.Centroid[1], Pings: s.Pings,
			}); err != nil {
				return err
			}
		}
		return bw.Flush()
	}
	return fmt.Errorf("person %q is not in %s (persons: %s)", f.person, source, personList(trajs))
}
