package store

import (
	"encoding/base64"
	"strconv"
)

func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("id:" + strconv.FormatInt(id, 10)))
}

// trimPage cuts a result fetched with Limit+1 rows to the page and returns the cursor of the next
// page ("" when this is the last).
func trimPage[T any](out []T, limit int, id func(T) int64) ([]T, string) {
	if len(out) <= limit {
		return out, ""
	}
	out = out[:limit]
	return out, encodeCursor(id(out[len(out)-1]))
}
