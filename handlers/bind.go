package handlers

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
)

// withBody makes a gin handler of one that takes the request's JSON body decoded into an R; a
// body that does not decode is answered by bindJSON, and handle is not called.
func withBody[R any](handle func(*gin.Context, R)) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req R
		if bindJSON(c, &req) {
			handle(c, req)
		}
	}
}

// readError is the problem of a request body that could not be read: errBodyTooLarge when it
// ran past the limit, otherwise other.
func readError(err, other error) error {
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return errBodyTooLarge
	}
	return other
}
