package sourcemap

import "errors"

// Errors of the Base64 VLQ decoder.
var (
	ErrVLQDigit    = errors.New("invalid base64 VLQ digit")
	ErrVLQOverflow = errors.New("base64 VLQ value overflows 32 bits")
	ErrVLQTruncate = errors.New("base64 VLQ value ends in a continuation digit")
)

// vlqDigit maps a base64 character to its value, or -1.
var vlqDigit = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range len(alphabet) {
		t[alphabet[i]] = int8(i)
	}
	return t
}()

// DecodeVLQ decodes the Base64 VLQ value that starts at s[i] and returns it
// with the index just after it. Values are signed 32-bit integers, as
// source maps use them: the lowest bit of the first digit is the sign.
func DecodeVLQ(s string, i int) (value int32, next int, err error) {
	var acc uint64
	shift := uint(0)
	for {
		if i >= len(s) {
			return 0, i, ErrVLQTruncate
		}
		d := vlqDigit[s[i]]
		if d < 0 {
			return 0, i, ErrVLQDigit
		}
		i++
		acc |= uint64(d&31) << shift
		if acc > 1<<32-1 {
			return 0, i, ErrVLQOverflow
		}
		if d&32 == 0 {
			break
		}
		shift += 5
		if shift > 32 {
			return 0, i, ErrVLQOverflow
		}
	}
	neg := acc&1 == 1
	acc >>= 1
	if neg {
		return -int32(acc), i, nil
	}
	return int32(acc), i, nil
}
