package handlers

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"

	"github.com/gin-gonic/gin"

	"entitled/models"
	"entitled/templates"
)

// pageSet holds the portal's server-rendered pages, each parsed with the shared layout.
type pageSet struct {
	pages map[string]*template.Template
}

func loadPages() (*pageSet, error) {
	layout, err := template.ParseFS(templates.FS, "pages/layout.html.tmpl")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templates.FS, "pages/*.html.tmpl")
	if err != nil {
		return nil, err
	}
	ps := &pageSet{pages: map[string]*template.Template{}}
	for _, file := range names {
		if file == "pages/layout.html.tmpl" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templates.FS, file)
		if err != nil {
			return nil, err
		}
		name := file[len("pages/") : len(file)-len(".html.tmpl")]
		ps.pages[name] = t
	}
	return ps, nil
}

// render writes a page. The whole page is rendered before anything is sent, so a template error
// becomes a clean 500 rather than half a page.
func (ps *pageSet) render(c *gin.Context, status int, name string, data map[string]any) {
	t, ok := ps.pages[name]
	if !ok {
		fail(c, fmt.Errorf("no page %q", name))
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		fail(c, err)
		return
	}
	h := c.Writer.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// pages are the portal's handlers: the same services as the API, HTML instead of JSON.
type pages struct {
	set      *pageSet
	identity *models.Identity
}

func (p *pages) message(c *gin.Context, status int, title, msg string, isErr bool, next, nextLabel string) {
	p.set.render(c, status, "message", map[string]any{"Title": title, "Message": msg, "Error": isErr, "Next": next, "NextLabel": nextLabel})
}

// verifyForm is where the verification letter's link lands. It only shows a button: a mail
// scanner fetching the link must not verify anything.
func (p *pages) verifyForm(c *gin.Context) {
	p.set.render(c, http.StatusOK, "verify", map[string]any{"Title": "Confirm your email address", "Token": c.Query("token")})
}

func (p *pages) verify(c *gin.Context) {
	_, err := p.identity.Verify(c.Request.Context(), c.PostForm("token"), models.Actor{IP: c.ClientIP(), RequestID: requestID(c)})
	if err != nil {
		p.pageError(c, "Confirm your email address", err)
		return
	}
	p.message(c, http.StatusOK, "Email address confirmed", "Thank you: your email address is confirmed. You can now register the products you bought.", false, "", "")
}

func (p *pages) resetForm(c *gin.Context) {
	p.set.render(c, http.StatusOK, "reset_password", map[string]any{"Title": "Choose a new password", "Token": c.Query("token")})
}

func (p *pages) reset(c *gin.Context) {
	token, pw := c.PostForm("token"), c.PostForm("password")
	if pw != c.PostForm("password_confirm") {
		p.set.render(c, http.StatusBadRequest, "reset_password", map[string]any{"Title": "Choose a new password", "Token": token, "Error": "The two passwords differ."})
		return
	}
	_, err := p.identity.ResetPassword(c.Request.Context(), token, pw, models.Actor{IP: c.ClientIP(), RequestID: requestID(c)})
	var e *models.Error
	if errors.As(err, &e) && e.Code == models.CodeValidation && len(e.Fields) > 0 {
		p.set.render(c, http.StatusBadRequest, "reset_password", map[string]any{"Title": "Choose a new password", "Token": token, "Error": "The password " + e.Fields[0].Detail + "."})
		return
	}
	if err != nil {
		p.pageError(c, "Choose a new password", err)
		return
	}
	p.message(c, http.StatusOK, "Password changed", "Your password is changed and every session of your account has ended. Log in with the new password.", false, "", "")
}

func (p *pages) invitation(c *gin.Context) {
	p.set.render(c, http.StatusOK, "invitation", map[string]any{"Title": "You are invited"})
}

// pageError shows a coded error in words; anything else is logged and shown as a bare failure.
func (p *pages) pageError(c *gin.Context, title string, err error) {
	status, prob := problemFor(err)
	if status >= 500 {
		logger(c).Error("page failed", "request_id", requestID(c), "route", c.FullPath(), "error", err)
	}
	p.message(c, status, title, prob.Detail, true, "", "")
}

// staticFiles serves the stylesheet; it changes only with a release.
func staticFiles() (gin.HandlerFunc, error) {
	sub, err := fs.Sub(templates.FS, "static")
	if err != nil {
		return nil, err
	}
	fileServer := http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
	return func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=3600")
		fileServer.ServeHTTP(c.Writer, c.Request)
	}, nil
}
