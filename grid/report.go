package grid

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The daily report (日报告、零报告): one row per unit of a level inside the caller's
// jurisdiction, every unit present, a unit with nothing to report as explicit zeros.
// A row is the state at the end of the local day (care policy offset): a spell
// released or transferred on the day no longer counts, one begun on it does; zones
// are taken in the version in force at the end of the day; an alert counts when
// raised before the end and not closed by then. Things are counted under the unit
// their household's area lies in (areas.ancestors), so a household outside every
// area is in no row. Things of an area under no unit of the level (a street's
// households in no community, a community's in no grid) count under the finest
// coarser area above them, in a row marked Direct carrying that area's own level:
// a remainder line, not a reporting unit, so it appears only when it has something
// to count. So the rows under an area always add up to its row one level up.

// ReportRow is one unit's line of the daily report.
type ReportRow struct {
	AreaID   int64
	ParentID int64
	// Level is the level asked, or for a Direct row its area's own (coarser) level.
	Level Level
	// Direct marks the remainder row of an area coarser than the level asked: what
	// lies in that area but in no unit of the level.
	Direct bool
	Name   string
	Code   string
	// Persons under each kind of spell at the end of the day.
	HomeIsolation    int
	CentralIsolation int
	HealthMonitoring int
	// Households by the strongest enforced zone they lie in.
	HouseholdsSealed     int
	HouseholdsControl    int
	HouseholdsPrecaution int
	// Vulnerable persons inside sealed or control zones (due a daily contact), and
	// those of them contacted that day.
	VulnerableDue       int
	VulnerableContacted int
	AlertsOpen          int
	// Grids of the unit and how many have submitted their report for the day (a grid
	// row: 1 and 0 or 1).
	Grids          int
	GridsSubmitted int
	// Sampling coverage of the rounds dated that day (zeros without one): persons
	// expected, swabbed (a swab or the household's door-to-door stop done) and
	// missing, as RoundCoverage counts them; a person in two rounds of the day
	// counts in each.
	SamplingExpected int
	SamplingSwabbed  int
	SamplingMissing  int
}

// ReportColumns are the report's column names in order, as CSV headers and JSON keys.
var ReportColumns = []string{"area_id", "parent_id", "level", "name", "code",
	"home_isolation", "central_isolation", "health_monitoring",
	"households_sealed", "households_control", "households_precaution",
	"vulnerable_due", "vulnerable_contacted", "alerts_open", "grids", "grids_submitted",
	"sampling_expected", "sampling_swabbed", "sampling_missing"}

// Values are the row's values in ReportColumns order.
func (r ReportRow) Values() []any {
	return []any{r.AreaID, r.ParentID, string(r.Level), r.Name, r.Code,
		r.HomeIsolation, r.CentralIsolation, r.HealthMonitoring,
		r.HouseholdsSealed, r.HouseholdsControl, r.HouseholdsPrecaution,
		r.VulnerableDue, r.VulnerableContacted, r.AlertsOpen, r.Grids, r.GridsSubmitted,
		r.SamplingExpected, r.SamplingSwabbed, r.SamplingMissing}
}

// reportSQL computes the report. $1 level, $2 sees all, $3 the caller's areas, $4
// the day, $5 the end of the day. Facts are aggregated per area first (a few
// thousand rows), then summed per unit through the areas' ancestors.
var reportSQL = `
WITH units AS (
	SELECT id, COALESCE(parent_id, 0) AS parent_id, name, code, level FROM areas
	WHERE array_position(` + levelOrderSQL + `, level) <= array_position(` + levelOrderSQL + `, $1::text)
	  AND ($2 OR ancestors && $3::bigint[])
),
au AS (
	-- Each area's unit: the finest of its ancestors (itself included) among units.
	SELECT DISTINCT ON (a.id) a.id AS area_id, u.id AS unit_id
	FROM areas a CROSS JOIN LATERAL unnest(a.ancestors) AS x(unit) JOIN units u ON u.id = x.unit
	ORDER BY a.id, array_position(` + levelOrderSQL + `, u.level) DESC
),
iso AS (
	SELECT h.area_id,
	       count(*) FILTER (WHERE i.kind = 'home_isolation') AS home,
	       count(*) FILTER (WHERE i.kind = 'central_isolation') AS central,
	       count(*) FILTER (WHERE i.kind = 'health_monitoring') AS monitoring
	FROM isolations i JOIN households h ON h.id = i.household_id
	WHERE i.began_on <= $4 AND (i.ended_on IS NULL OR i.ended_on > $4)
	GROUP BY h.area_id
),
z AS (` + fmt.Sprintf(enforcedZonesAt, "$5") + `),
hz AS (
	SELECT h.id, h.area_id, min(array_position(ARRAY['sealed', 'control', 'precaution'], z.kind)) AS rank
	FROM z JOIN households h ON ST_Intersects(z.geom, h.geom)
	GROUP BY h.id, h.area_id
),
zc AS (
	SELECT area_id, count(*) FILTER (WHERE rank = 1) AS sealed, count(*) FILTER (WHERE rank = 2) AS control,
	       count(*) FILTER (WHERE rank = 3) AS precaution
	FROM hz GROUP BY area_id
),
vul AS (
	SELECT hz.area_id, count(*) AS due,
	       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM care_contacts k WHERE k.person_id = p.id AND k.day = $4)) AS contacted
	FROM hz JOIN persons p ON p.household_id = hz.id
	WHERE hz.rank <= 2 AND p.vulnerability <> '{}'
	GROUP BY hz.area_id
),
al AS (
	SELECT area_id, count(*) AS open FROM alerts
	WHERE raised_at < $5 AND (closed_at IS NULL OR closed_at >= $5) AND area_id IS NOT NULL
	GROUP BY area_id
),
sub AS (
	SELECT g.id AS area_id, 1 AS grids, (s.area_id IS NOT NULL)::int AS submitted
	FROM areas g LEFT JOIN report_submissions s ON s.area_id = g.id AND s.day = $4
	WHERE g.level = 'grid'
),
samp AS (` + reportSamplingCoverage + `)
SELECT u.id, u.parent_id, u.name, u.code, u.level,
       COALESCE(sum(iso.home), 0), COALESCE(sum(iso.central), 0), COALESCE(sum(iso.monitoring), 0),
       COALESCE(sum(zc.sealed), 0), COALESCE(sum(zc.control), 0), COALESCE(sum(zc.precaution), 0),
       COALESCE(sum(vul.due), 0), COALESCE(sum(vul.contacted), 0), COALESCE(sum(al.open), 0),
       COALESCE(sum(sub.grids), 0), COALESCE(sum(sub.submitted), 0),
       COALESCE(sum(samp.expected), 0), COALESCE(sum(samp.swabbed), 0)
FROM units u
LEFT JOIN au ON au.unit_id = u.id
LEFT JOIN iso ON iso.area_id = au.area_id
LEFT JOIN zc ON zc.area_id = au.area_id
LEFT JOIN vul ON vul.area_id = au.area_id
LEFT JOIN al ON al.area_id = au.area_id
LEFT JOIN sub ON sub.area_id = au.area_id
LEFT JOIN samp ON samp.area_id = au.area_id
GROUP BY u.id, u.parent_id, u.name, u.code, u.level
HAVING u.level = $1 OR COALESCE(sum(iso.home), 0) + COALESCE(sum(iso.central), 0) + COALESCE(sum(iso.monitoring), 0)
	+ COALESCE(sum(zc.sealed), 0) + COALESCE(sum(zc.control), 0) + COALESCE(sum(zc.precaution), 0)
	+ COALESCE(sum(vul.due), 0) + COALESCE(sum(al.open), 0) + COALESCE(sum(sub.grids), 0) + COALESCE(sum(samp.expected), 0) > 0
ORDER BY u.code`

// DailyReport answers the report of day (a date) at level for c's jurisdiction at
// now. Errors: Invalid naming date for a day after today.
func (s *Store) DailyReport(ctx context.Context, c Caller, day time.Time, level Level, now time.Time) ([]ReportRow, error) {
	if _, err := ParseLevel(string(level)); err != nil {
		return nil, err
	}
	pol, err := s.CurrentCarePolicy(ctx)
	if err != nil {
		return nil, err
	}
	if day.After(pol.Policy.Day(now)) {
		return nil, Errorf(Invalid, "date", "%s is in the future", day.Format(time.DateOnly))
	}
	end := pol.Policy.At(day, 24)
	rows, err := s.pool.Query(ctx, reportSQL, string(level), seesAll(c.User), userAreas(c.User), day, end)
	if err != nil {
		return nil, dbError("daily report", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ReportRow, error) {
		var x ReportRow
		var lv string
		err := r.Scan(&x.AreaID, &x.ParentID, &x.Name, &x.Code, &lv, &x.HomeIsolation, &x.CentralIsolation, &x.HealthMonitoring,
			&x.HouseholdsSealed, &x.HouseholdsControl, &x.HouseholdsPrecaution, &x.VulnerableDue, &x.VulnerableContacted,
			&x.AlertsOpen, &x.Grids, &x.GridsSubmitted, &x.SamplingExpected, &x.SamplingSwabbed)
		x.SamplingMissing = x.SamplingExpected - x.SamplingSwabbed
		x.Level, x.Direct = Level(lv), Level(lv) != level
		return x, err
	})
	if err != nil {
		return nil, dbError("daily report", err)
	}
	return out, nil
}

// reportSamplingCoverage is reportSQL's sampling part ($4 the day): per household
// area, the persons of the day's rounds expected and swabbed, with RoundCoverage's
// definitions (assignments' persons but the deceased, swabbedSQL keyed on each
// assignment's round and household, no join of households needed), so the report and
// the round's coverage agree. Assignments without a grid_id count in no row, as there.
var reportSamplingCoverage = `
	SELECT sa.grid_id AS area_id, count(*) AS expected,
	       count(*) FILTER (WHERE ` + strings.NewReplacer("$1", "sa.round_id", "h.id", "sa.household_id").Replace(swabbedSQL) + `) AS swabbed
	FROM sampling_rounds r
	JOIN sampling_assignments sa ON sa.round_id = r.id
	JOIN persons p ON p.household_id = sa.household_id AND p.status <> 'deceased'
	WHERE r.day = $4 AND sa.grid_id IS NOT NULL
	GROUP BY sa.grid_id`

// Submission is a grid's report submitted for a day.
type Submission struct {
	AreaID      int64
	Day         time.Time
	SubmittedBy int64
	SubmittedAt time.Time
}

// SubmitReport records that grid area submitted its report for day, at now; a second
// submission answers the first. Errors: Forbidden outside CareWriters; NotFound for
// an area outside the jurisdiction; Invalid naming area_id (not a grid) or date
// (after today).
func (s *Store) SubmitReport(ctx context.Context, c Caller, area int64, day time.Time, now time.Time) (Submission, error) {
	if err := requireRoleIn(c.User, CareWriters()); err != nil {
		return Submission{}, err
	}
	out := Submission{AreaID: area, Day: day}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		pol, err := currentCarePolicy(ctx, tx)
		if err != nil {
			return err
		}
		if day.After(pol.Policy.Day(now)) {
			return Errorf(Invalid, "date", "%s is in the future", day.Format(time.DateOnly))
		}
		var level string
		err = tx.QueryRow(ctx, `SELECT level FROM areas WHERE id = $1 AND ($2 OR ancestors && $3::bigint[])`,
			area, seesAll(c.User), userAreas(c.User)).Scan(&level)
		if errors.Is(err, pgx.ErrNoRows) {
			return Errorf(NotFound, "area_id", "area %d not found", area)
		}
		if err != nil {
			return dbError("load area", err)
		}
		if Level(level) != GridLevel {
			return Errorf(Invalid, "area_id", "area %d is a %s: reports are submitted per grid", area, level)
		}
		err = tx.QueryRow(ctx, `
			WITH ins AS (INSERT INTO report_submissions (area_id, day, submitted_by, submitted_at) VALUES ($1, $2, NULLIF($3::bigint, 0), $4)
			             ON CONFLICT (area_id, day) DO NOTHING RETURNING submitted_by, submitted_at)
			SELECT COALESCE(submitted_by, 0), submitted_at FROM ins
			UNION ALL
			SELECT COALESCE(submitted_by, 0), submitted_at FROM report_submissions WHERE area_id = $1 AND day = $2 AND NOT EXISTS (SELECT 1 FROM ins)`,
			area, day, c.User.ID, now).Scan(&out.SubmittedBy, &out.SubmittedAt)
		if err != nil {
			return dbError("submit report", err)
		}
		_, err = AppendChange(ctx, tx, ChangeInput{Kind: "submit", Entity: "report", EntityID: area, AreaID: area,
			Payload: map[string]any{"date": day.Format(time.DateOnly)}})
		return err
	})
	return out, err
}
