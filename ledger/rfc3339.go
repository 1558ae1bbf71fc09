package ledger

import (
	"errors"
	"regexp"
	"strconv"
	"time"
)

// MaxFractionDigits is the most digits of a second's fraction an RFC 3339
// time may carry: Go keeps nanoseconds, and would drop the rest silently.
const MaxFractionDigits = 9

var errNotRFC3339 = errors.New("not an RFC 3339 time")

// rfc3339Shape is RFC 3339's date-time, digits counted (Go's parser also
// takes a one-digit hour, and any number of fraction digits).
var rfc3339Shape = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,` + strconv.Itoa(MaxFractionDigits) + `})?(Z|[+-][0-9]{2}:[0-9]{2})$`)

// ParseRFC3339 parses an RFC 3339 time as sent by a client, refusing what
// Go's parser takes but would change or RFC 3339 does not allow: a
// fraction of more than MaxFractionDigits digits, an offset of a day or
// more (Go reads up to +99:59, RFC 3339 ends at 23:59), a one-digit
// field.
func ParseRFC3339(s string) (time.Time, error) {
	if !rfc3339Shape.MatchString(s) {
		return time.Time{}, errNotRFC3339
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, err
	}
	if _, off := t.Zone(); off <= -24*60*60 || off >= 24*60*60 {
		return time.Time{}, errNotRFC3339
	}
	return t, nil
}
