package api_test

import (
	"fmt"
	"net/http"
	"testing"
)

// TestEligibilityAudited: the eligibility answer shows the person's age, read from
// the birth date, so it is a read of personal data with its audit row; a person
// outside the jurisdiction is 404 and logs nothing.
func TestEligibilityAudited(t *testing.T) {
	t.Parallel()
	f := newGridFixture(t)
	var e struct {
		Age *int `json:"age"`
	}
	if code := f.send(t, "worker", "POST", "/api/v1/isolations/eligibility", `{"person_id":2,"start_date":"2022-04-10"}`, &e); code != http.StatusOK || e.Age == nil || *e.Age != 76 {
		t.Fatalf("eligibility: %d age %v", code, e.Age)
	}
	rows := f.auditRows(t, "worker")
	if len(rows) != 1 || rows[0].action != "read_person" || rows[0].route != "POST /api/v1/isolations/eligibility" || fmt.Sprint(rows[0].personIDs) != "[2]" {
		t.Fatalf("audit rows %+v, want one read of person 2 on the route", rows)
	}
	if code := f.send(t, "worker", "POST", "/api/v1/isolations/eligibility", `{"person_id":6}`, nil); code != http.StatusNotFound {
		t.Fatalf("eligibility outside: %d", code)
	}
	if n := len(f.auditRows(t, "worker")); n != 1 {
		t.Fatalf("%d audit rows after a refused read", n)
	}
}
