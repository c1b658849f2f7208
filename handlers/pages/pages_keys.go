package pages

// License keys, for a license's License Users (and its administrators): request a key for a
// machine, see the keys issued, show a key again, release one. The same LicenseKeys service as
// /v1/licenses/{ln}/keys.

import (
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"entitled/models"
	"entitled/models/store"
)

func (p *Portal) licenseKeysPage(c *gin.Context) {
	p.keysPage(c, http.StatusOK, nil)
}

// keysPage shows the keys of a license and the form to request one; extra carries a form's
// error and values.
func (p *Portal) keysPage(c *gin.Context, status int, extra map[string]any) {
	ctx, pr, ln := c.Request.Context(), p.principal(c), c.Param("ln")
	pg, err := cursorPage(c, models.PortalPageSize)
	if err != nil {
		pg = models.Page{Limit: models.PortalPageSize}
	}
	// The guarded call first: who may not see the keys learns nothing more of the license.
	keys, next, err := p.LicenseKeys.List(ctx, pr, ln, pg)
	if err != nil {
		p.pageError(c, "License keys", err)
		return
	}
	d, roles, err := p.Registrations.LicenseFor(ctx, pr, ln)
	if err != nil {
		p.pageError(c, "License keys", err)
		return
	}
	prod, err := p.Catalogue.Product(ctx, d.Product.SKU)
	if err != nil {
		p.pageError(c, "License keys", err)
		return
	}
	// The versions this member may take a key for, newest first; the others say why not.
	var versions []versionRow
	for i := len(prod.Versions) - 1; i >= 0; i-- {
		v := prod.Versions[i]
		vs, err := p.Licenses.Support(ctx, pr, d.License.LicenseNumber, v.Version)
		if err != nil {
			p.pageError(c, "License keys", err)
			return
		}
		versions = append(versions, versionRow{Version: v, Keys: findEntitlement(vs.Entitlements, models.EntitlementLicenseKeys)})
	}
	seats, err := p.LicenseKeys.SeatsUsed(ctx, pr, ln)
	if err != nil {
		p.pageError(c, "License keys", err)
		return
	}
	data := map[string]any{"Title": d.Product.Name, "Nav": "licenses", "Wide": true, "Tab": "keys", "D": d, "Roles": roles,
		"IsAdmin": models.MayActAs(pr, roles, models.MemberAdmin), "CanKeys": true,
		"CanIssue": models.MayActAs(pr, roles, models.MemberLicense), "Keys": keys, "Next": next, "Versions": versions,
		"SeatsUsed": seats, "S": d.Summary(p.Licenses.Today(), p.Licenses.RenewalWindowDays)}
	maps.Copy(data, extra)
	p.render(c, status, "keys", data)
}

// issueKey takes a key for a machine (or answers the machine's key for that major version again)
// and shows it.
func (p *Portal) issueKey(c *gin.Context) {
	ln := c.Param("ln")
	in := models.LicenseKeyInput{Fingerprint: strings.TrimSpace(c.PostForm("fingerprint")), Hostname: strings.TrimSpace(c.PostForm("hostname")),
		Version: strings.TrimSpace(c.PostForm("version"))}
	k, err := p.LicenseKeys.Issue(c.Request.Context(), p.principal(c), ln, in, p.actor(c))
	if err != nil {
		status, msg := p.errorText(err)
		if f := fieldMessages(err); f != nil {
			msg = strings.Join(sortedValues(f), " ")
		}
		code := store.ErrorCode(err)
		for _, r := range models.DenialReasons() {
			if code == r && r != models.ReasonNotAMember && r != models.ReasonRoleMissing {
				// A version this license may not key: said as the license page says it.
				if d, _, derr := p.Registrations.LicenseFor(c.Request.Context(), p.principal(c), ln); derr == nil {
					msg = "Version " + in.Version + ": " + reasonText(code, models.EntitlementLicenseKeys, d.Summary(p.Licenses.Today(), p.Licenses.RenewalWindowDays))
				}
			}
		}
		if code == models.CodeSeatsExhausted {
			msg = "Every seat of this license has a machine already. Release a machine's key below to move its seat, or buy more seats."
		}
		if status >= 500 || code == models.CodeNotAMember || code == models.CodeRoleMissing || code == models.CodeInvalidLicenseNumber {
			p.pageError(c, "License keys", err)
			return
		}
		p.keysPage(c, status, map[string]any{"FormError": msg, "Form": map[string]string{"fingerprint": in.Fingerprint, "hostname": in.Hostname, "version": in.Version}})
		return
	}
	// Post/Redirect/Get: the key has a page of its own, so that a reload shows it again.
	msg := "A new key for " + k.Key.Hostname + " is ready."
	if !k.Created {
		msg = "This is the key " + k.Key.Hostname + " already has for version " + strconv.Itoa(k.Key.VerMajor) + ".x: no new seat was taken."
	}
	redirect(c, "/licenses/"+url.PathEscape(c.Param("ln"))+"/keys/"+strconv.FormatInt(k.Key.ID, 10), msg)
}

// licenseKey shows one machine's key as last signed, to copy or download.
func (p *Portal) licenseKey(c *gin.Context) {
	ctx, pr, ln := c.Request.Context(), p.principal(c), c.Param("ln")
	k, err := p.LicenseKeys.Key(ctx, pr, ln, c.Param("id"))
	if err != nil {
		p.pageError(c, "License key", err)
		return
	}
	d, _, err := p.Registrations.LicenseFor(ctx, pr, ln)
	if err != nil {
		p.pageError(c, "License key", err)
		return
	}
	data := map[string]any{"Title": "License key of " + k.Key.Hostname, "Nav": "licenses", "K": k, "D": d, "Scripts": true,
		"FileName": d.License.LicenseNumber + "-" + k.Key.Hostname + ".lic"}
	if k.Token != "" {
		data["Download"] = keyDownload(k.Token)
	}
	p.render(c, http.StatusOK, "license_key", data)
}

// releaseKey asks first, then releases a key (and with a machine's last key, its seat).
func (p *Portal) releaseKey(c *gin.Context) {
	ln, id := c.Param("ln"), c.Param("id")
	back := "/licenses/" + url.PathEscape(ln) + "/keys"
	if c.PostForm("confirm") != "yes" {
		// Ask only someone who may release: the same check as the list.
		if _, _, err := p.LicenseKeys.List(c.Request.Context(), p.principal(c), ln, models.Page{Limit: 1}); err != nil {
			p.pageError(c, "Release a license key", err)
			return
		}
		host := c.PostForm("hostname")
		p.render(c, http.StatusOK, "confirm", map[string]any{"Title": "Please confirm", "Nav": "licenses",
			"Question": "Release the license key of " + host + "? The product on that machine stops accepting it; the machine's seat is freed when its last key goes.",
			"Action":   c.Request.URL.Path, "Fields": map[string]string{"reason": c.PostForm("reason"), "hostname": host},
			"Button": "Yes, release", "Danger": true, "Cancel": back})
		return
	}
	if err := p.LicenseKeys.Release(c.Request.Context(), p.principal(c), ln, id, c.PostForm("reason"), p.actor(c)); err != nil {
		p.pageError(c, "Release a license key", err)
		return
	}
	redirect(c, back, "The license key of "+c.PostForm("hostname")+" is released.")
}

// keyDownload is the key as a data: URL, so that the page offers it as a file with no further
// request (the key is shown once, on the answer that issued it).
func keyDownload(token string) template.URL {
	return template.URL("data:application/octet-stream;charset=utf-8," + url.PathEscape(token)) //nolint:gosec // a signed token of base64url characters, escaped
}
