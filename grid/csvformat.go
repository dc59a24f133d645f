package grid

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paulmach/orb"

	"github.com/gridtrace/gridtrace/geo"
)

// The CSV formats the import reads (README.md, "Import formats"). Readers stream:
// they yield batches of inputs for Store.LoadHouseholds / LoadCases and report each
// row they cannot read as a RowError ("line N: field: reason") without stopping, so
// one run lists every bad row. Fields are trimmed; the file must be UTF-8 (a
// leading byte-order mark, as Excel writes, is ignored).

// HouseholdCSVHeader is the header of the households CSV format, in its documented
// order (any order is read; household, lng, lat and address are required).
const HouseholdCSVHeader = "household,lng,lat,address,building,unit,name,id_number,phone,birth_date,sex,status,vulnerability"

// DefaultBatch is the batch size the readers are used with: large enough to amortise
// a COPY round trip, small enough to keep a few MB in memory.
const DefaultBatch = 5000

// chinaTime is China Standard Time (UTC+8, no daylight saving), the zone of dates
// given without one: the domain's reports are dated in local time.
func chinaTime() *time.Location { return time.FixedZone("CST", 8*3600) }

// csvSource reads records with their line numbers and turns CSV syntax errors into
// bad rows.
type csvSource struct {
	r      *csv.Reader
	header []string
	col    map[string]int
}

func newCSVSource(r io.Reader, what string) (*csvSource, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, Errorf(Invalid, "header", "the %s file is empty", what)
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, Errorf(Invalid, "header", "line %d: %v", pe.StartLine, pe.Err)
		}
		return nil, fmt.Errorf("read %s header: %w", what, err)
	}
	header = slices.Clone(header)
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	col := make(map[string]int, len(header))
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		if _, dup := col[h]; dup {
			return nil, Errorf(Invalid, "header", "column %q appears twice", h)
		}
		col[h] = i
	}
	return &csvSource{r: cr, header: header, col: col}, nil
}

// next returns the next record (trimmed, valid for this call only) and its line; a
// row that cannot be read comes back as bad with a nil record; io.EOF ends.
func (c *csvSource) next() (rec []string, line int, bad *RowError, err error) {
	rec, err = c.r.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			reason := pe.Err.Error()
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				reason = fmt.Sprintf("has %d fields; the header has %d", len(rec), len(c.header))
			}
			return nil, pe.StartLine, &RowError{Line: pe.StartLine, Reason: reason}, nil
		}
		return nil, 0, nil, err
	}
	line, _ = c.r.FieldPos(0)
	for i, f := range rec {
		if !utf8.ValidString(f) {
			return nil, line, &RowError{Line: line, Field: c.header[i], Reason: "is not UTF-8 text (save the file as CSV UTF-8)"}, nil
		}
		rec[i] = strings.TrimSpace(f)
	}
	return rec, line, nil, nil
}

// field is the value of column name, "" when the file has no such column.
func (c *csvSource) field(rec []string, name string) string {
	if i, ok := c.col[name]; ok {
		return rec[i]
	}
	return ""
}

// checkColumns refuses missing required columns and unknown ones (a misspelt
// optional column would otherwise be silently empty).
func (c *csvSource) checkColumns(required, optional []string) error {
	for _, r := range required {
		if _, ok := c.col[r]; !ok {
			return Errorf(Invalid, "header", "column %q is required (header: %s)", r, strings.Join(append(slices.Clone(required), optional...), ","))
		}
	}
	for _, h := range c.header {
		if !slices.Contains(required, h) && !slices.Contains(optional, h) {
			return Errorf(Invalid, "header", "unknown column %q (known: %s)", h, strings.Join(append(slices.Clone(required), optional...), ","))
		}
	}
	return nil
}

func parseCoord(s, field string) (float64, *RowError) {
	if s == "" {
		return 0, &RowError{Field: field, Reason: "is required"}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, &RowError{Field: field, Reason: fmt.Sprintf("%q is not a number", s)}
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		// ParseFloat reads "NaN" and "Inf", which no geocoder writes and PostGIS
		// would store as a point nowhere.
		return 0, &RowError{Field: field, Reason: fmt.Sprintf("%q is not a finite number", s)}
	}
	return v, nil
}

// HouseholdCSV reads the households CSV format: one row per person, rows sharing the
// household key (consecutive) forming one household whose location, address,
// building and unit come from its first row; a later row may leave them empty or
// must repeat them. A row with every person column empty adds no person.
type HouseholdCSV struct {
	src *csvSource

	cur      HouseholdInput // the household being read
	curKey   string
	has      bool
	firstBad bool // its first row is bad: later rows are not compared with it
}

var (
	householdRequired = []string{"household", "lng", "lat", "address"}
	householdOptional = []string{"building", "unit", "name", "id_number", "phone", "birth_date", "sex", "status", "vulnerability"}
	personColumns     = []string{"name", "id_number", "phone", "birth_date", "sex", "status", "vulnerability"}
)

// NewHouseholdCSV reads and checks the header; the error is Invalid for a bad one.
func NewHouseholdCSV(r io.Reader) (*HouseholdCSV, error) {
	src, err := newCSVSource(r, "households")
	if err != nil {
		return nil, err
	}
	if err := src.checkColumns(householdRequired, householdOptional); err != nil {
		return nil, err
	}
	return &HouseholdCSV{src: src}, nil
}

// Batches yields the households in batches of up to size (DefaultBatch if ≤ 0), and
// a RowError for each row it cannot read, before the batch holding that row's
// household. The household is still yielded, with what could be read, so that the
// store reports its other faults in the same run (and, having seen the RowError,
// writes nothing). A batch is reused once yield returns; an I/O error ends the
// sequence.
func (c *HouseholdCSV) Batches(size int) iter.Seq2[[]HouseholdInput, error] {
	if size <= 0 {
		size = DefaultBatch
	}
	return func(yield func([]HouseholdInput, error) bool) {
		batch := make([]HouseholdInput, 0, size)
		// flush ends the current household; it yields the batch when full.
		flush := func() bool {
			if c.has {
				batch = append(batch, c.cur)
			}
			c.has, c.firstBad, c.cur = false, false, HouseholdInput{}
			if len(batch) < size {
				return true
			}
			ok := yield(batch, nil)
			batch = batch[:0]
			return ok
		}
		for {
			rec, line, bad, err := c.src.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				yield(nil, fmt.Errorf("read households: %w", err))
				return
			}
			if bad != nil {
				if !yield(nil, *bad) {
					return
				}
				continue
			}
			var errs []RowError
			key := c.src.field(rec, "household")
			switch {
			case key == "":
				errs = append(errs, RowError{Line: line, Field: "household", Reason: "is required"})
			case c.has && key == c.curKey:
				errs = c.agree(rec, line)
			default:
				if !flush() {
					return
				}
				errs = c.start(rec, line, key)
			}
			if key != "" {
				p, perrs := c.person(rec, line)
				errs = append(errs, perrs...)
				if p != nil {
					c.cur.Persons = append(c.cur.Persons, *p)
				}
			}
			for _, e := range errs {
				if !yield(nil, e) {
					return
				}
			}
		}
		flush()
		if len(batch) > 0 {
			yield(batch, nil)
		}
	}
}

// start begins a household at its first row.
func (c *HouseholdCSV) start(rec []string, line int, key string) []RowError {
	c.has, c.curKey = true, key
	c.cur = HouseholdInput{
		ExtID:    key,
		Address:  c.src.field(rec, "address"),
		Building: c.src.field(rec, "building"),
		Unit:     c.src.field(rec, "unit"),
		Line:     line,
	}
	var errs []RowError
	lng, bad := parseCoord(c.src.field(rec, "lng"), "lng")
	if bad != nil {
		bad.Line = line
		errs = append(errs, *bad)
	}
	lat, bad := parseCoord(c.src.field(rec, "lat"), "lat")
	if bad != nil {
		bad.Line = line
		errs = append(errs, *bad)
	}
	c.cur.Location = orb.Point{lng, lat}
	c.firstBad = len(errs) > 0
	return errs
}

// agree checks a later row of the household against its first row.
func (c *HouseholdCSV) agree(rec []string, line int) []RowError {
	if c.firstBad {
		return nil // its first row is already reported; comparing with it means nothing
	}
	var errs []RowError
	differs := func(field, got, want string) {
		errs = append(errs, RowError{Line: line, Field: field, Reason: fmt.Sprintf(
			"%q differs from %q on line %d (the rows of household %q must agree, or leave it empty)", got, want, c.cur.Line, c.curKey)})
	}
	for i, f := range []string{"lng", "lat"} {
		s := c.src.field(rec, f)
		if s == "" {
			continue
		}
		v, bad := parseCoord(s, f)
		if bad != nil {
			bad.Line = line
			errs = append(errs, *bad)
			continue
		}
		if v != c.cur.Location[i] {
			differs(f, s, strconv.FormatFloat(c.cur.Location[i], 'f', -1, 64))
		}
	}
	for _, f := range []struct {
		name string
		want string
	}{{"address", c.cur.Address}, {"building", c.cur.Building}, {"unit", c.cur.Unit}} {
		if s := c.src.field(rec, f.name); s != "" && s != f.want {
			differs(f.name, s, f.want)
		}
	}
	return errs
}

// person reads the person columns of a row; nil when they are all empty.
func (c *HouseholdCSV) person(rec []string, line int) (*PersonInput, []RowError) {
	empty := true
	for _, f := range personColumns {
		if c.src.field(rec, f) != "" {
			empty = false
			break
		}
	}
	if empty {
		return nil, nil
	}
	p := &PersonInput{
		Name:     c.src.field(rec, "name"),
		IDNumber: c.src.field(rec, "id_number"),
		Phone:    c.src.field(rec, "phone"),
		Sex:      normalizeSex(c.src.field(rec, "sex")),
		Status:   c.src.field(rec, "status"),
		Line:     line,
	}
	var errs []RowError
	if s := c.src.field(rec, "birth_date"); s != "" {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			errs = append(errs, RowError{Line: line, Field: "birth_date", Reason: fmt.Sprintf("%q is not a date YYYY-MM-DD", s)})
		} else {
			p.BirthDate = &d
		}
	}
	for _, v := range strings.Split(c.src.field(rec, "vulnerability"), ";") {
		if v = strings.TrimSpace(v); v != "" {
			p.Vulnerability = append(p.Vulnerability, Vulnerability(v))
		}
	}
	return p, errs
}

// normalizeSex accepts the usual spellings of a Chinese registry (男/女) and lower
// case; anything else is passed on for the store to refuse.
func normalizeSex(s string) string {
	switch s {
	case "m", "男":
		return "M"
	case "f", "女":
		return "F"
	}
	return s
}

// CaseCSVOptions are the defaults of a cases CSV.
type CaseCSVOptions struct {
	// Kind is the kind of a case whose row names none; empty means confirmed.
	Kind CaseKind
	// ReportedAt is reported_at of a case whose row names none; the geocoded
	// format names none, so it is required there.
	ReportedAt time.Time
	// Source prefixes the row id into ext_id in the geocoded format:
	// "<Source>/<id>", e.g. "shanghai-2022-04-04/17".
	Source string
	// Zone is the time zone of dates without one; nil means China Standard Time.
	Zone *time.Location
}

// The cases CSV formats NewCaseCSV recognises by their header.
const (
	// CaseFormatNative is "ext_id,lng,lat" plus optional address, kind,
	// reported_at, onset_at.
	CaseFormatNative = "native"
	// CaseFormatGeocoded is a published list of case addresses geocoded by pandas:
	// ",f_location,latitude,longitude,location" (row id, geocoded English address,
	// latitude, longitude, original address), as in shared/data/shanghai.
	CaseFormatGeocoded = "geocoded"
)

var (
	geocodedHeader = []string{"", "f_location", "latitude", "longitude", "location"}
	caseRequired   = []string{"ext_id", "lng", "lat"}
	caseOptional   = []string{"address", "kind", "reported_at", "onset_at"}
)

// CaseCSV reads a cases CSV in either format.
type CaseCSV struct {
	src     *csvSource
	format  string
	opt     CaseCSVOptions
	skipped []RowError
}

// NewCaseCSV reads the header, which decides the format; the error is Invalid for an
// unknown header or options the format needs and lacks.
func NewCaseCSV(r io.Reader, opt CaseCSVOptions) (*CaseCSV, error) {
	src, err := newCSVSource(r, "cases")
	if err != nil {
		return nil, err
	}
	if opt.Kind == "" {
		opt.Kind = Confirmed
	}
	if opt.Zone == nil {
		opt.Zone = chinaTime()
	}
	c := &CaseCSV{src: src, opt: opt, format: CaseFormatNative}
	if slices.Equal(src.header, geocodedHeader) {
		c.format = CaseFormatGeocoded
		if opt.ReportedAt.IsZero() {
			return nil, Errorf(Invalid, "date", "the geocoded format has no dates: give the day the cases were reported")
		}
		if opt.Source == "" {
			return nil, Errorf(Invalid, "source", "the geocoded format needs a source to prefix its row ids with")
		}
		return c, nil
	}
	if err := src.checkColumns(caseRequired, caseOptional); err != nil {
		return nil, err
	}
	return c, nil
}

// Format is CaseFormatNative or CaseFormatGeocoded.
func (c *CaseCSV) Format() string { return c.format }

// Skipped lists the rows read so far that were left out without failing the file:
// in the geocoded format, addresses the geocoder could not place (no coordinates).
func (c *CaseCSV) Skipped() []RowError { return c.skipped }

// Batches yields the cases in batches of up to size (DefaultBatch if ≤ 0) and a
// RowError for each row it cannot read. A batch is reused once yield returns.
func (c *CaseCSV) Batches(size int) iter.Seq2[[]CaseInput, error] {
	if size <= 0 {
		size = DefaultBatch
	}
	return func(yield func([]CaseInput, error) bool) {
		batch := make([]CaseInput, 0, size)
		for {
			rec, line, bad, err := c.src.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				yield(nil, fmt.Errorf("read cases: %w", err))
				return
			}
			if bad != nil {
				if !yield(nil, *bad) {
					return
				}
				continue
			}
			var ci CaseInput
			var errs []RowError
			var skip bool
			if c.format == CaseFormatGeocoded {
				ci, skip, errs = c.geocodedRow(rec, line)
			} else {
				ci, errs = c.nativeRow(rec, line)
			}
			for _, e := range errs {
				if !yield(nil, e) {
					return
				}
			}
			if skip || len(errs) > 0 {
				continue
			}
			batch = append(batch, ci)
			if len(batch) == size {
				if !yield(batch, nil) {
					return
				}
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			yield(batch, nil)
		}
	}
}

// geocodedRow reads ",f_location,latitude,longitude,location". A row without
// coordinates is skipped, not an error: a published address the geocoder could not
// place is a known gap of the source, not a broken file.
func (c *CaseCSV) geocodedRow(rec []string, line int) (CaseInput, bool, []RowError) {
	id, fLocation, latS, lngS, location := rec[0], rec[1], rec[2], rec[3], rec[4]
	var errs []RowError
	if id == "" {
		errs = append(errs, RowError{Line: line, Field: "id", Reason: "is required (the first, unnamed column)"})
	}
	if latS == "" || lngS == "" {
		field := "latitude"
		if latS != "" {
			field = "longitude"
		}
		c.skipped = append(c.skipped, RowError{Line: line, Field: field, Reason: "is empty: the address was not geocoded; row skipped"})
		return CaseInput{}, true, errs
	}
	lat, bad := parseCoord(latS, "latitude")
	if bad != nil {
		bad.Line = line
		errs = append(errs, *bad)
	}
	lng, bad := parseCoord(lngS, "longitude")
	if bad != nil {
		bad.Line = line
		errs = append(errs, *bad)
	}
	if len(errs) == 0 {
		if err := geo.ValidLngLat(lng, lat); err != nil {
			ce := err.(*geo.CoordError)
			field := map[string]string{"lng": "longitude", "lat": "latitude"}[ce.Field]
			errs = append(errs, RowError{Line: line, Field: field, Reason: ce.Reason})
		}
	}
	address := location
	if address == "" {
		address = fLocation // the geocoder's English form is better than nothing
	}
	return CaseInput{
		ExtID:      c.opt.Source + "/" + id,
		Kind:       c.opt.Kind,
		ReportedAt: c.opt.ReportedAt,
		Address:    address,
		Location:   orb.Point{lng, lat},
		Line:       line,
	}, false, errs
}

// nativeRow reads "ext_id,lng,lat[,address,kind,reported_at,onset_at]".
func (c *CaseCSV) nativeRow(rec []string, line int) (CaseInput, []RowError) {
	var errs []RowError
	add := func(field, reason string) { errs = append(errs, RowError{Line: line, Field: field, Reason: reason}) }
	ci := CaseInput{
		ExtID:      c.src.field(rec, "ext_id"),
		Kind:       CaseKind(c.src.field(rec, "kind")),
		ReportedAt: c.opt.ReportedAt,
		Address:    c.src.field(rec, "address"),
		Line:       line,
	}
	if ci.ExtID == "" {
		add("ext_id", "is required")
	}
	if ci.Kind == "" {
		ci.Kind = c.opt.Kind
	}
	for i, f := range []string{"lng", "lat"} {
		v, bad := parseCoord(c.src.field(rec, f), f)
		if bad != nil {
			add(f, bad.Reason)
		}
		ci.Location[i] = v
	}
	if s := c.src.field(rec, "reported_at"); s != "" {
		t, err := ParseTime(s, c.opt.Zone)
		if err != nil {
			add("reported_at", err.Error())
		}
		ci.ReportedAt = t
	} else if ci.ReportedAt.IsZero() {
		add("reported_at", "is required (or give a default date)")
	}
	if s := c.src.field(rec, "onset_at"); s != "" {
		t, err := ParseTime(s, c.opt.Zone)
		if err != nil {
			add("onset_at", err.Error())
		}
		ci.OnsetAt = &t
	}
	return ci, errs
}

// ParseTime reads an RFC 3339 time, or "YYYY-MM-DD" or "YYYY-MM-DD HH:MM[:SS]" in
// zone (China Standard Time when nil).
func ParseTime(s string, zone *time.Location) (time.Time, error) {
	if zone == nil {
		zone = chinaTime()
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{time.DateOnly, "2006-01-02 15:04", time.DateTime} {
		if t, err := time.ParseInLocation(layout, s, zone); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date YYYY-MM-DD, a local time YYYY-MM-DD HH:MM or an RFC 3339 time", s)
}
