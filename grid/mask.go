package grid

import (
	"strings"
	"time"
	"unicode/utf8"
)

// MaskPolicy says which personal fields of a person a reader sees in clear; a false
// field is masked. The zero value masks everything.
type MaskPolicy struct {
	Name      bool
	Phone     bool
	IDNumber  bool
	BirthDate bool
}

// Any reports whether at least one field is shown in clear, which makes the read one
// that the audit log must record.
func (p MaskPolicy) Any() bool { return p.Name || p.Phone || p.IDNumber || p.BirthDate }

// MaskedFields names the fields p masks, in the API's JSON names.
func (p MaskPolicy) MaskedFields() []string { return p.fields(false) }

// ShownFields names the fields p shows in clear, in the API's JSON names.
func (p MaskPolicy) ShownFields() []string { return p.fields(true) }

func (p MaskPolicy) fields(shown bool) []string {
	out := []string{}
	for _, f := range []struct {
		name string
		on   bool
	}{{"name", p.Name}, {"phone", p.Phone}, {"id_number", p.IDNumber}, {"birth_date", p.BirthDate}} {
		if f.on == shown {
			out = append(out, f.name)
		}
	}
	return out
}

// Unmasked is the one table of which personal fields each role sees in clear inside
// its jurisdiction (outside it nobody does, see PersonPolicy). DOMAIN.md: "only those
// whose role and jurisdiction need it see names, phone numbers and ID numbers".
//   - admin: maintains the data and answers for its correctness.
//   - commander: decides on isolation and transfers of named people.
//   - grid_worker: keeps one file per household and per person (一户一档、一人一档) and
//     phones the vulnerable daily, so needs all of it.
//   - tracer: must reach cases and contacts by phone and match them by ID number.
//   - sampler: calls residents by name at the door or the sampling point; the tube is
//     bound to the person record, so phone, ID number and birth date stay masked.
//   - viewer (and any unknown role): nothing in clear.
func Unmasked(role Role) MaskPolicy {
	switch role {
	case Admin, Commander, GridWorker, Tracer:
		return MaskPolicy{Name: true, Phone: true, IDNumber: true, BirthDate: true}
	case Sampler:
		return MaskPolicy{Name: true}
	}
	return MaskPolicy{}
}

// PersonPolicy is what u sees of a person: the role's Unmasked fields when the
// person lives inside u's jurisdiction, everything masked otherwise.
func PersonPolicy(u User, inJurisdiction bool) MaskPolicy {
	if !inJurisdiction {
		return MaskPolicy{}
	}
	return Unmasked(u.Role)
}

// Apply returns x with every field the policy does not show masked: name, phone and
// ID number by MaskName, MaskPhone and MaskIDNumber; a masked birth date is truncated
// to 1 January of its year (the API then shows the year only).
func (p MaskPolicy) Apply(x Person) Person {
	if !p.Name {
		x.Name = MaskName(x.Name)
	}
	if !p.Phone {
		x.Phone = MaskPhone(x.Phone)
	}
	if !p.IDNumber {
		x.IDNumber = MaskIDNumber(x.IDNumber)
	}
	if !p.BirthDate && x.BirthDate != nil {
		y := time.Date(x.BirthDate.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		x.BirthDate = &y
	}
	return x
}

// MaskName keeps the first character and replaces each remaining one with "*"
// (张三丰 → 张**). A one-character name becomes "*": keeping it would show it all.
func MaskName(s string) string {
	n := utf8.RuneCountInString(s)
	switch n {
	case 0:
		return ""
	case 1:
		return "*"
	}
	first, _ := utf8.DecodeRuneInString(s)
	return string(first) + strings.Repeat("*", n-1)
}

// MaskPhone keeps the first 3 and last 4 characters (13812345678 → 138****5678);
// numbers shorter than 8 characters are masked entirely, as keeping 7 would show
// nearly all of them.
func MaskPhone(s string) string { return keepEnds(s, 3, 4) }

// MaskIDNumber keeps the first 6 (the region code) and last 4 characters of an ID
// number, hiding the birth date inside a resident ID (310101199001011234 →
// 310101********1234); numbers of 10 characters or fewer are masked entirely.
func MaskIDNumber(s string) string { return keepEnds(s, 6, 4) }

// keepEnds keeps head and tail runes and stars the middle, or stars everything when
// fewer than one rune would be hidden.
func keepEnds(s string, head, tail int) string {
	r := []rune(s)
	if len(r) == 0 {
		return ""
	}
	if len(r) <= head+tail {
		return strings.Repeat("*", len(r))
	}
	return string(r[:head]) + strings.Repeat("*", len(r)-head-tail) + string(r[len(r)-tail:])
}
