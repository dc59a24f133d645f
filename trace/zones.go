package trace

import (
	"fmt"

	"github.com/gridtrace/gridtrace/grid"
	"github.com/gridtrace/gridtrace/grid/zoning"
	"github.com/gridtrace/gridtrace/trace/stay"
)

// StayZones proposes zones around a case's stays under a zone policy (grid/zoning),
// for command staff to review: each stay is an epidemic point of its own (numbered
// from 1 in time order, the ids in Zone.CaseIDs) with a known source, the case, so
// the stays of one case never count as community transmission. Nothing is saved.
// Errors: Invalid for a policy the proposal refuses or one needing more cells than
// its budget.
func StayZones(stays []stay.Stay, pol zoning.Policy) ([]zoning.Zone, error) {
	if len(stays) == 0 {
		return nil, nil
	}
	in := zoning.Input{Cases: make([]zoning.Case, len(stays))}
	for i, st := range stays {
		in.Cases[i] = zoning.Case{ID: int64(i + 1), Point: st.Centroid, At: st.Arrival, Key: fmt.Sprintf("stay-%d", i+1), SourceKnown: true}
	}
	res, err := zoning.Propose(in, pol)
	if err != nil {
		return nil, grid.Errorf(grid.Invalid, "propose_zones", "%v", err)
	}
	return res.Zones, nil
}
