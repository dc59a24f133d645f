package care

import (
	"fmt"
	"time"
)

// Conditions are what a grid worker records about a person and their home when
// home isolation is considered; Age comes from the birth date.
type Conditions struct {
	Pregnant              bool `json:"pregnant"`
	SevereIllness         bool `json:"severe_illness"`
	RelativeCriticallyIll bool `json:"relative_critically_ill"`
	SeparateRoom          bool `json:"separate_room"`
	SeparateBathroom      bool `json:"separate_bathroom"`
}

// Eligibility is the answer to "may this person isolate at home?".
type Eligibility struct {
	Eligible bool     `json:"eligible"`
	Age      *int     `json:"age"`     // nil when the birth date is unknown
	Grounds  []string `json:"grounds"` // the grounds met (age_70_plus, pregnant, ...)
	Reasons  []string `json:"reasons"` // why not, in words; empty when eligible
}

// Age is the age in whole years on day of someone born on birth.
func Age(birth, day time.Time) int {
	a := day.Year() - birth.Year()
	if day.Month() < birth.Month() || (day.Month() == birth.Month() && day.Day() < birth.Day()) {
		a--
	}
	return a
}

// HomeIsolationEligibility applies DOMAIN.md: home isolation is allowed for people
// aged ElderlyMinAge or more or ChildMaxAge or less, pregnant, with a severe
// underlying illness, or with a close relative critically ill or deceased; and only
// with a separate room and bathroom. birth may be nil (unknown); day is the start.
func (p Policy) HomeIsolationEligibility(birth *time.Time, day time.Time, c Conditions) Eligibility {
	out := Eligibility{Grounds: []string{}, Reasons: []string{}}
	if birth != nil {
		a := Age(*birth, day)
		out.Age = &a
		if a >= p.ElderlyMinAge {
			out.Grounds = append(out.Grounds, fmt.Sprintf("age_%d_plus", p.ElderlyMinAge))
		}
		if a <= p.ChildMaxAge {
			out.Grounds = append(out.Grounds, fmt.Sprintf("age_%d_or_under", p.ChildMaxAge))
		}
	}
	if c.Pregnant {
		out.Grounds = append(out.Grounds, "pregnant")
	}
	if c.SevereIllness {
		out.Grounds = append(out.Grounds, "severe_illness")
	}
	if c.RelativeCriticallyIll {
		out.Grounds = append(out.Grounds, "relative_critically_ill")
	}
	if len(out.Grounds) == 0 {
		ages := fmt.Sprintf("aged %d or over, or %d or under", p.ElderlyMinAge, p.ChildMaxAge)
		if birth == nil {
			ages = "age unknown (no birth date)"
		}
		out.Reasons = append(out.Reasons, "no ground for home isolation: not "+
			fmt.Sprintf("%s, pregnant, severely ill, or with a close relative critically ill", ages))
	}
	if !c.SeparateRoom {
		out.Reasons = append(out.Reasons, "no separate room")
	}
	if !c.SeparateBathroom {
		out.Reasons = append(out.Reasons, "no separate bathroom")
	}
	out.Eligible = len(out.Reasons) == 0
	return out
}
