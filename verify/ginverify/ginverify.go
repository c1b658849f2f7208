// Package ginverify adapts package verify to Gin, so that verify itself stays free of Gin.
//
//	r.GET("/files/:name", ginverify.Require(v, verify.DownloadsRead), serveFile)
package ginverify

import (
	"github.com/gin-gonic/gin"

	"github.com/entitled-dev/entitled/verify"
)

const claimsKey = "entitled.verify.claims"

// Require lets a request through only with a valid entitlement token that grants the
// entitlement; otherwise it answers problem+json as verify.Verifier.Require does — 401 (with the
// code revoked for a token whose status-list bit is set), 403 with the denial reason, or 503
// when no fresh status list can be had — and aborts. The handler finds the claims with Claims.
func Require(v *verify.Verifier, entitlement string) gin.HandlerFunc {
	return func(c *gin.Context) {
		claims, err := v.Authorize(c.Request, entitlement)
		if err != nil {
			verify.WriteProblem(c.Writer, err)
			c.Abort()
			return
		}
		c.Set(claimsKey, claims)
		c.Request = c.Request.WithContext(verify.WithClaims(c.Request.Context(), claims))
		c.Next()
	}
}

// Claims returns the claims Require verified for this request, or nil.
func Claims(c *gin.Context) *verify.Claims {
	if v, ok := c.Get(claimsKey); ok {
		return v.(*verify.Claims)
	}
	return nil
}
