package pages

// Superadmin pages for what the API and the CLI do: staff users and their roles, API keys (the
// secret shown once, on the answer that made it), and the whole audit log.

import (
	"maps"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

func (p *Portal) staffUsers(c *gin.Context) { p.staffUsersPage(c, http.StatusOK, nil) }

func (p *Portal) staffUsersPage(c *gin.Context, status int, extra map[string]any) {
	listPage(p, c, status, "staff_users", map[string]any{"Title": "Staff", "Nav": "staff", "AllRoles": models.StaffRoles()}, extra,
		func(pg models.Page) ([]models.User, string, error) {
			return p.Identity.ListStaff(c.Request.Context(), pg)
		})
}

// putStaff gives a staff user exactly the roles ticked (none: no staff rights), creating the
// user, with the password given, when the address has no account.
func (p *Portal) putStaff(c *gin.Context) {
	in := models.StaffInput{Email: strings.TrimSpace(c.PostForm("email")), Name: strings.TrimSpace(c.PostForm("name")),
		Roles: c.PostFormArray("roles"), Password: c.PostForm("password")}
	if in.Roles == nil {
		in.Roles = []string{}
	}
	u, created, err := p.Identity.PutStaff(c.Request.Context(), in, p.actor(c))
	if err != nil {
		status, msg := p.errorText(err)
		if status >= 500 {
			p.pageError(c, "Staff", err)
			return
		}
		p.staffUsersPage(c, status, map[string]any{"FormError": msg, "Fields": fieldMessages(err),
			"Form": map[string]string{"email": in.Email, "name": in.Name}})
		return
	}
	what := u.Email + " now has the roles: " + strings.Join(u.Roles(), ", ") + "."
	switch {
	case created:
		what = "Staff user " + u.Email + " created with the roles: " + strings.Join(u.Roles(), ", ") + "."
	case len(u.Roles()) == 0:
		what = u.Email + " has no staff rights any more."
	}
	redirect(c, "/staff/users", what)
}

func (p *Portal) apiKeys(c *gin.Context) { p.apiKeysPage(c, http.StatusOK, nil) }

func (p *Portal) apiKeysPage(c *gin.Context, status int, extra map[string]any) {
	listPage(p, c, status, "api_keys", map[string]any{"Title": "API keys", "Nav": "apikeys", "AllScopes": models.Scopes()}, extra,
		func(pg models.Page) ([]models.APIKey, string, error) {
			return p.Identity.ListAPIKeys(c.Request.Context(), pg)
		})
}

// listPage renders the page name of a list, a page of it at the request's cursor: data (its title,
// nav and the rest) with Items and Next, and extra (a refused form's errors and values) on top.
func listPage[T any](p *Portal, c *gin.Context, status int, name string, data, extra map[string]any, list func(models.Page) ([]T, string, error)) {
	title, _ := data["Title"].(string)
	pg, err := models.ParsePage("", c.Query("cursor"))
	if err != nil {
		p.pageError(c, title, err)
		return
	}
	items, next, err := list(pg)
	if err != nil {
		p.pageError(c, title, err)
		return
	}
	data["Items"], data["Next"], data["Wide"] = items, next, true
	maps.Copy(data, extra)
	p.render(c, status, name, data)
}

// createAPIKey makes a key and shows its secret, the one time it is shown.
func (p *Portal) createAPIKey(c *gin.Context) {
	name := strings.TrimSpace(c.PostForm("name"))
	k, secret, err := p.Identity.CreateAPIKey(c.Request.Context(), name, c.PostFormArray("scopes"), p.actor(c))
	if err != nil {
		status, msg := p.errorText(err)
		if status >= 500 {
			p.pageError(c, "API keys", err)
			return
		}
		p.apiKeysPage(c, status, map[string]any{"FormError": msg, "Fields": fieldMessages(err), "Form": map[string]string{"name": name}})
		return
	}
	p.apiKeysPage(c, http.StatusCreated, map[string]any{"NewKey": k, "Secret": secret})
}

// revokeAPIKey revokes a key at once, after asking.
func (p *Portal) revokeAPIKey(c *gin.Context) {
	id := c.Param("id")
	if c.PostForm("confirm") != "yes" {
		p.render(c, http.StatusOK, "confirm", map[string]any{"Title": "Please confirm", "Nav": "apikeys",
			"Question": "Revoke API key " + id + "? Every request with it is refused from now on.", "Action": c.Request.URL.Path,
			"Fields": map[string]string{}, "Button": "Yes, revoke", "Danger": true, "Cancel": "/staff/api-keys"})
		return
	}
	if err := p.Identity.RevokeAPIKey(c.Request.Context(), id, p.actor(c)); err != nil {
		p.pageError(c, "API keys", err)
		return
	}
	redirect(c, "/staff/api-keys", "API key "+id+" is revoked.")
}

// auditLog is the whole audit log, newest first, filtered by action, subject and time as
// GET /v1/audit is.
func (p *Portal) auditLog(c *gin.Context) {
	form := map[string]string{}
	for _, f := range []string{"action", "subject", "since", "until"} {
		form[f] = strings.TrimSpace(c.Query(f))
	}
	f, err := models.ParseAuditFilter(form["action"], form["subject"], "", form["since"], form["until"])
	if err != nil {
		p.render(c, http.StatusBadRequest, "staff_audit", map[string]any{"Title": "Audit log", "Nav": "audit", "Wide": true,
			"Form": form, "Fields": fieldMessages(err), "FormError": "Check the filters."})
		return
	}
	pg, err := cursorPage(c, models.PageDefault)
	if err != nil {
		p.pageError(c, "Audit log", err)
		return
	}
	entries, next, err := p.ListAudit(c.Request.Context(), f, pg)
	if err != nil {
		p.pageError(c, "Audit log", err)
		return
	}
	rows := auditRows(entries)
	more := ""
	if next != "" {
		q := url.Values{"cursor": {next}}
		for k, v := range form {
			if v != "" {
				q.Set(k, v)
			}
		}
		more = "/staff/audit?" + q.Encode()
	}
	p.render(c, http.StatusOK, "staff_audit", map[string]any{"Title": "Audit log", "Nav": "audit", "Wide": true,
		"Rows": rows, "More": more, "Form": form})
}
