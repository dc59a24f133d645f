package api

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/gridtrace/gridtrace/grid"
)

// reportRoutes registers the daily report (日报告、零报告). Everyone authenticated
// reads the report of the units inside their jurisdiction (it holds counts, no
// personal data); grid.CareWriters submit a grid's report for a day.
func (s *Server) reportRoutes(g *echo.Group) {
	g.GET("/reports/daily", s.handleDailyReport)
	g.GET("/reports/daily/missing", s.handleReportMissing)
	g.POST("/reports/daily/submissions", s.handleReportSubmit, requireRole(grid.CareWriters()...), bodyLimit(MaxJSONBody))
}

func reportRowJSON(r grid.ReportRow) map[string]any {
	out := make(map[string]any, len(grid.ReportColumns))
	for i, v := range r.Values() {
		out[grid.ReportColumns[i]] = v
	}
	out["parent_id"] = idOrNull(r.ParentID)
	out["submitted"] = r.Level == grid.GridLevel && r.GridsSubmitted > 0
	out["direct"] = r.Direct
	return out
}

// handleDailyReport: GET /api/v1/reports/daily?date=YYYY-MM-DD&level=...&format=json|csv|html.
func (s *Server) handleDailyReport(c echo.Context) error {
	if err := queryStrict(c, "date", "level", "format"); err != nil {
		return err
	}
	day, err := parseDate("date", c.QueryParam("date"), true)
	if err != nil {
		return err
	}
	level, err := grid.ParseLevel(c.QueryParam("level"))
	if err != nil {
		return err
	}
	format := c.QueryParam("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "csv" && format != "html" {
		return grid.Errorf(grid.Invalid, "format", "%q is not one of json, csv, html", format)
	}
	rows, err := s.cfg.Store.DailyReport(c.Request().Context(), callerOf(c), *day, level, time.Now())
	if err != nil {
		return err
	}
	date := day.Format(time.DateOnly)
	switch format {
	case "csv":
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		w.Write(grid.ReportColumns)
		for _, r := range rows {
			rec := make([]string, 0, len(grid.ReportColumns))
			for _, v := range r.Values() {
				rec = append(rec, fmt.Sprint(v))
			}
			w.Write(rec)
		}
		w.Flush()
		c.Response().Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="daily-%s-%s.csv"`, date, level))
		return c.Blob(http.StatusOK, "text/csv; charset=utf-8", b.Bytes())
	case "html":
		var b bytes.Buffer
		if err := reportPage.Execute(&b, map[string]any{"Date": date, "Level": level, "Columns": grid.ReportColumns, "Rows": rows}); err != nil {
			return fmt.Errorf("render report: %w", err)
		}
		return c.HTMLBlob(http.StatusOK, b.Bytes())
	}
	return c.JSON(http.StatusOK, map[string]any{"date": date, "level": level, "columns": grid.ReportColumns, "rows": renderAll(rows, reportRowJSON)})
}

// reportPage is the printable report: one table, no script, A4 landscape.
var reportPage = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>日报告 {{.Date}} ({{.Level}})</title>
<style>@page { size: A4 landscape; margin: 1cm } body { font: 11px sans-serif }
table { border-collapse: collapse; width: 100% } th, td { border: 1px solid #999; padding: 2px 4px }
td.n { text-align: right } tr.zero td { color: #777 }</style></head>
<body><h1>日报告 / daily report {{.Date}} · {{.Level}}</h1>
<table><thead><tr>{{range .Columns}}<th>{{.}}</th>{{end}}</tr></thead><tbody>
{{range .Rows}}<tr>{{range $i, $v := .Values}}<td{{if ge $i 5}} class="n"{{end}}>{{$v}}</td>{{end}}</tr>
{{end}}</tbody></table>
<p>{{len .Rows}} units; a unit with nothing to report shows zeros (零报告).</p></body></html>`))

// handleReportMissing: GET /api/v1/reports/daily/missing?date=: the grids inside the
// jurisdiction that have not submitted their report for the day.
func (s *Server) handleReportMissing(c echo.Context) error {
	if err := queryStrict(c, "date"); err != nil {
		return err
	}
	day, err := parseDate("date", c.QueryParam("date"), true)
	if err != nil {
		return err
	}
	rows, err := s.cfg.Store.DailyReport(c.Request().Context(), callerOf(c), *day, grid.GridLevel, time.Now())
	if err != nil {
		return err
	}
	out := []map[string]any{}
	grids := 0
	for _, r := range rows {
		if r.Direct {
			continue // a remainder row of a community without grids: no grid to submit
		}
		grids++
		if r.GridsSubmitted == 0 {
			out = append(out, map[string]any{"area_id": r.AreaID, "parent_id": idOrNull(r.ParentID), "name": r.Name, "code": r.Code})
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"date": day.Format(time.DateOnly), "grids": grids, "missing": out})
}

// handleReportSubmit: POST /api/v1/reports/daily/submissions {area_id, date}.
func (s *Server) handleReportSubmit(c echo.Context) error {
	var req struct {
		AreaID int64  `json:"area_id"`
		Date   string `json:"date"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.AreaID < 1 {
		return grid.Errorf(grid.Invalid, "area_id", "is required")
	}
	day, err := parseDate("date", req.Date, true)
	if err != nil {
		return err
	}
	sub, err := s.cfg.Store.SubmitReport(c.Request().Context(), callerOf(c), req.AreaID, *day, time.Now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"area_id": sub.AreaID, "date": sub.Day.Format(time.DateOnly),
		"submitted_by": idOrNull(sub.SubmittedBy), "submitted_at": sub.SubmittedAt.UTC()})
}
