package handlers

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

func (h *api) listSessions(c *gin.Context) {
	ss, err := h.identity.Sessions(c.Request.Context(), principal(c))
	if err != nil {
		fail(c, err)
		return
	}
	writeJSON(c, http.StatusOK, list(mapSlice(ss, toSessionJSON), ""))
}

func (h *api) revokeSession(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		fail(c, models.Errorf(models.CodeNotFound, "you have no open session %q", c.Param("id")))
		return
	}
	noContent(c, h.identity.RevokeSession(c.Request.Context(), principal(c), id, actor(c)))
}
