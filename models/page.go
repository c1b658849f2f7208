package models

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Lists are paginated by keyset: the cursor is the last id of the previous page, opaque to clients.
const (
	PageDefault = 50
	PageMax     = 500
)

// Page is one page request: at most Limit items after the cursor (0: from the start).
type Page struct {
	Limit int
	After int64
}

// ParsePage reads ?limit= and ?cursor=. A limit outside 1..500 or a cursor this server did not
// make is a validation error.
func ParsePage(limit, cursor string) (Page, error) {
	p := Page{Limit: PageDefault}
	var v Validation
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > PageMax {
			v.Add("limit", FieldInvalid, "must be a whole number from 1 to 500")
		} else {
			p.Limit = n
		}
	}
	if cursor != "" {
		id, ok := decodeCursor(cursor)
		if !ok {
			v.Add("cursor", FieldInvalid, "is not a cursor this server gave out")
		}
		p.After = id
	}
	return p, v.Err()
}

func decodeCursor(c string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	s, ok := strings.CutPrefix(string(b), "id:")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}
