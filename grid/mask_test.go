package grid_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/gridtrace/gridtrace/grid"
)

func TestMaskName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"张三丰", "张**"},
		{"张三", "张*"},
		{"欧阳娜娜", "欧***"},
		{"张", "*"},
		{"", ""},
		{"John", "J***"},
	} {
		if got := grid.MaskName(tc.in); got != tc.want {
			t.Errorf("MaskName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMaskAddress(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"上海市浦东新区张江路88弄3号", "上海市浦东新区张江路**"},
		{"一社区1号", "一社区**"},
		{"甲街道无社区", "甲*****"},
		{"12 Main St", "1*********"},
		{"", ""},
	} {
		if got := grid.MaskAddress(tc.in); got != tc.want {
			t.Errorf("MaskAddress(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMaskPhone(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"13812345678", "138****5678"},
		{"+8613812345678", "+86*******5678"},
		{"02161234567", "021****4567"},
		{"12345678", "123*5678"},
		{"1234567", "*******"},
		{"110", "***"},
		{"", ""},
	} {
		if got := grid.MaskPhone(tc.in); got != tc.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMaskIDNumber(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"310101199001021234", "310101********1234"},
		{"31010119900102123X", "310101********123X"},
		{"E12345678", "*********"},
		{"G123456789A", "G12345*789A"},
		{"", ""},
	} {
		if got := grid.MaskIDNumber(tc.in); got != tc.want {
			t.Errorf("MaskIDNumber(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestUnmaskedTable(t *testing.T) {
	all := grid.MaskPolicy{Name: true, Phone: true, IDNumber: true, BirthDate: true}
	for _, tc := range []struct {
		role grid.Role
		want grid.MaskPolicy
	}{
		{grid.Admin, all},
		{grid.Commander, all},
		{grid.GridWorker, all},
		{grid.Tracer, all},
		{grid.Sampler, grid.MaskPolicy{Name: true}},
		{grid.Viewer, grid.MaskPolicy{}},
		{grid.Role("intruder"), grid.MaskPolicy{}},
	} {
		if got := grid.Unmasked(tc.role); got != tc.want {
			t.Errorf("Unmasked(%s) = %+v, want %+v", tc.role, got, tc.want)
		}
	}
	// Outside the jurisdiction nobody sees anything in clear, whatever the role.
	for _, r := range grid.Roles {
		if got := grid.PersonPolicy(grid.User{Role: r}, false); got.Any() {
			t.Errorf("PersonPolicy(%s, outside) = %+v", r, got)
		}
	}
}

func TestMaskPolicyApply(t *testing.T) {
	born := time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC)
	p := grid.Person{ID: 1, Name: "张三丰", Phone: "13812345678", IDNumber: "310101199001021234", BirthDate: &born, Status: "normal"}
	tests := []struct {
		name   string
		pol    grid.MaskPolicy
		want   grid.Person
		masked []string
	}{
		{"viewer", grid.MaskPolicy{}, grid.Person{ID: 1, Name: "张**", Phone: "138****5678", IDNumber: "310101********1234", Status: "normal"},
			[]string{"name", "phone", "id_number", "birth_date"}},
		{"sampler", grid.Unmasked(grid.Sampler), grid.Person{ID: 1, Name: "张三丰", Phone: "138****5678", IDNumber: "310101********1234", Status: "normal"},
			[]string{"phone", "id_number", "birth_date"}},
		{"grid worker", grid.Unmasked(grid.GridWorker), p, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.pol.Apply(p)
			if got.Name != tc.want.Name || got.Phone != tc.want.Phone || got.IDNumber != tc.want.IDNumber {
				t.Fatalf("Apply = %+v, want %+v", got, tc.want)
			}
			wantDate := born
			if !tc.pol.BirthDate {
				wantDate = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
			}
			if got.BirthDate == nil || !got.BirthDate.Equal(wantDate) {
				t.Fatalf("birth date %v, want %v", got.BirthDate, wantDate)
			}
			if m := tc.pol.MaskedFields(); !reflect.DeepEqual(m, tc.masked) {
				t.Fatalf("MaskedFields = %v, want %v", m, tc.masked)
			}
		})
	}
	if !born.Equal(*p.BirthDate) || p.Name != "张三丰" {
		t.Fatal("Apply changed its argument")
	}
}
