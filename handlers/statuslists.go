package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"entitled/models"
	"entitled/models/store"
)

// statusListHandlers serve the token status lists: read by every offline verifier every ttl, so
// the answer comes from memory (store.StatusLists) and a verifier that has the list revalidates
// with one 304.
type statusListHandlers struct{ lists *store.StatusLists }

// get answers GET /v1/status-lists/{id} (anyone): the signed list (application/statuslist+jwt),
// cacheable for its ttl, with an ETag.
func (h *statusListHandlers) get(c *gin.Context) {
	if h.lists == nil {
		fail(c, models.Errorf(models.CodeNotFound, "there are no status lists here"))
		return
	}
	l, err := h.lists.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Cache-Control", "public, max-age="+strconv.Itoa(int(l.MaxAge/time.Second)))
	c.Header("ETag", l.ETag)
	if etagMatches(c.GetHeader("If-None-Match"), l.ETag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, "application/statuslist+jwt", l.JWT)
}
