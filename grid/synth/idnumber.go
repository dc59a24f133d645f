package synth

import (
	"fmt"
	"time"
)

// idWeights are the GB 11643-1999 weights of the first 17 digits (2^(17-i) mod 11).
var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// IDCheckDigit is the 18th character of a resident ID number whose first 17 digits
// are given: the weighted sum mod 11 mapped to 1 0 X 9 8 7 6 5 4 3 2 (GB 11643-1999,
// ISO 7064 MOD 11-2). It fails when first17 is not 17 ASCII digits.
func IDCheckDigit(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, fmt.Errorf("ID number body %q: want 17 digits, got %d characters", first17, len(first17))
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := first17[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("ID number body %q: character %d is not a digit", first17, i+1)
		}
		sum += int(c-'0') * idWeights[i]
	}
	return "10X98765432"[sum%11], nil
}

// ValidIDNumber reports whether s is 18 characters with a correct check digit and a
// real birth date in positions 7–14. It does not check the region code.
func ValidIDNumber(s string) bool {
	if len(s) != 18 {
		return false
	}
	c, err := IDCheckDigit(s[:17])
	if err != nil || c != s[17] {
		return false
	}
	_, err = time.Parse("20060102", s[6:14])
	return err == nil
}

// IDNumber builds an 18-digit resident ID number: region (6 digits), birth date
// (YYYYMMDD), a 3-digit sequence whose last digit is odd for men and even for women,
// and the check digit. seq is taken mod 1000 and its parity forced from sex ("M" or
// "F").
func IDNumber(region string, birth time.Time, seq int, sex string) (string, error) {
	if len(region) != 6 {
		return "", fmt.Errorf("region code %q: want 6 digits", region)
	}
	seq = ((seq % 1000) + 1000) % 1000
	odd := seq%2 == 1
	if (sex == "M") != odd {
		seq ^= 1 // flip the parity digit, staying within 000–999
	}
	body := fmt.Sprintf("%s%s%03d", region, birth.Format("20060102"), seq)
	c, err := IDCheckDigit(body)
	if err != nil {
		return "", err
	}
	return body + string(c), nil
}
