package pages

// Webhooks, for staff superadmin: the endpoints, and for each its recent deliveries with every
// attempt, and the API's actions on them (register, ping, retry a delivery, rotate the secret,
// enable, disable, delete). The same Webhooks service as /v1/webhooks. A secret is shown once, on
// the answer to the form that made it (registering or rotating), never on a page that can be
// opened again.

import (
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"entitled/models"
	"entitled/models/store"
)

// webhookDeliveriesPage is how many deliveries an endpoint's page shows at once: the recent ones,
// with a link to older ones.
const webhookDeliveriesPage = 25

// webhookFormFields are the fields of the form that registers an endpoint.
var webhookFormFields = []string{"url", "events", "description", "account_id"}

func (p *Portal) webhooks(c *gin.Context) {
	p.webhooksPage(c, http.StatusOK, nil)
}

// webhooksPage lists the endpoints, oldest first, above the form that registers one; extra
// carries the form's errors and values.
func (p *Portal) webhooksPage(c *gin.Context, status int, extra map[string]any) {
	pg, err := cursorPage(c, models.PortalPageSize)
	if err != nil {
		pg = models.Page{Limit: models.PortalPageSize}
	}
	es, next, err := p.Webhooks.List(c.Request.Context(), pg)
	if err != nil {
		p.pageError(c, "Webhooks", err)
		return
	}
	data := map[string]any{"Title": "Webhooks", "Nav": "webhooks", "Wide": true, "Endpoints": es, "Next": next,
		"EventTypes": models.WebhookEventTypes, "Form": map[string]string{"events": models.WebhookAllEvents}}
	maps.Copy(data, extra)
	p.render(c, status, "webhooks", data)
}

// webhookEvents reads the events field: event types separated by commas or spaces, or "*".
func webhookEvents(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}

// createWebhook registers an endpoint and answers its page with the secret, the one time it is
// shown. A refused form is shown again with each error next to its field.
func (p *Portal) createWebhook(c *gin.Context) {
	form := map[string]string{}
	for _, f := range webhookFormFields {
		form[f] = strings.TrimSpace(c.PostForm(f))
	}
	in := models.WebhookInput{URL: form["url"], Events: webhookEvents(form["events"]), Description: form["description"]}
	if acct := form["account_id"]; acct != "" {
		in.AccountID = &acct
	}
	e, secret, err := p.Webhooks.Create(c.Request.Context(), in, p.actor(c))
	if err != nil {
		status, msg := p.errorText(err)
		fields := webhookFieldMessages(err, in.Events)
		// The service's refusals of one field are said next to that field, as validation is.
		switch store.ErrorCode(err) {
		case models.CodeWebhookURLRefused:
			fields = map[string]string{"url": msg}
		case models.CodeAccountNotFound:
			fields = map[string]string{"account_id": msg}
		}
		if fields == nil {
			p.pageError(c, "Register a webhook", err)
			return
		}
		p.webhooksPage(c, status, map[string]any{"Form": form, "Fields": fields, "FormError": "The endpoint was not registered: see below."})
		return
	}
	p.webhookPage(c, http.StatusCreated, e, map[string]any{"Secret": secret, "SecretNew": true,
		"Flash": "The endpoint is registered. It gets the events it asks for from now on."})
}

// webhookFieldMessages are a refused form's errors by field, the events field's naming the
// event types it refused.
func webhookFieldMessages(err error, events []string) map[string]string {
	fields := fieldMessages(err)
	if fields == nil || fields["events"] == "" {
		return fields
	}
	var bad []string
	for _, f := range err.(*models.Error).Fields {
		i, ok := strings.CutPrefix(f.Field, "events[")
		if n, aerr := strconv.Atoi(strings.TrimSuffix(i, "]")); ok && aerr == nil && n >= 0 && n < len(events) {
			bad = append(bad, strconv.Quote(events[n]))
		}
	}
	switch {
	case len(bad) == 1:
		fields["events"] = bad[0] + " is not an event type."
	case len(bad) > 1:
		fields["events"] = strings.Join(bad, ", ") + " are not event types."
	default:
		fields["events"] = "Name at least one event type, or * for every event."
	}
	return fields
}

func (p *Portal) webhook(c *gin.Context) {
	e, err := p.Webhooks.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		p.pageError(c, "Webhook", err)
		return
	}
	p.webhookPage(c, http.StatusOK, e, nil)
}

// webhookPage shows an endpoint, its actions, and its deliveries, newest first, a page at a time;
// extra carries an action's error or a secret to show once.
func (p *Portal) webhookPage(c *gin.Context, status int, e *models.WebhookEndpoint, extra map[string]any) {
	pg, err := cursorPage(c, webhookDeliveriesPage)
	if err != nil {
		pg = models.Page{Limit: webhookDeliveriesPage}
	}
	id := itoa(e.ID)
	ds, next, err := p.Webhooks.Deliveries(c.Request.Context(), id, pg)
	if err != nil {
		p.pageError(c, "Webhook", err)
		return
	}
	data := map[string]any{"Title": "Webhook " + id, "Nav": "webhooks", "Wide": true, "E": e, "ID": id,
		"Deliveries": ds, "Next": next, "Older": c.Query("cursor") != ""}
	maps.Copy(data, extra)
	p.render(c, status, "webhook", data)
}

// webhookAction does one of an endpoint's actions. Deleting and rotating the secret ask first;
// rotating answers the new secret, the one time it is shown; the others go back to the endpoint's
// page with a message.
func (p *Portal) webhookAction(c *gin.Context) {
	ctx, id, action := c.Request.Context(), c.Param("id"), c.Param("action")
	back := "/staff/webhooks/" + url.PathEscape(id)
	var question, verb string
	switch action {
	case "ping", "enable", "disable":
	case "rotate-secret":
		question, verb = "Give this endpoint a new secret? Deliveries are signed with both the new and the old secret for 24 hours: update the receiver within that time.", "Yes, rotate the secret"
	case "delete":
		question, verb = "Delete this endpoint? Nothing more is sent to it, including its deliveries still waiting for an attempt. This cannot be undone.", "Yes, delete"
	default:
		p.message(c, http.StatusNotFound, "Not found", "There is no such action.", true, "", "")
		return
	}
	e, err := p.Webhooks.Get(ctx, id)
	if err != nil {
		p.pageError(c, "Webhook", err)
		return
	}
	if question != "" && c.PostForm("confirm") != "yes" {
		p.render(c, http.StatusOK, "confirm", map[string]any{"Title": "Please confirm", "Nav": "webhooks", "Question": question,
			"Summary": []detailPair{{"Endpoint", e.URL}, {"Events", strings.Join(e.Events, ", ")}},
			"Action":  c.Request.URL.Path, "Button": verb, "Danger": action == "delete", "Cancel": back})
		return
	}
	a := p.actor(c)
	var msg string
	switch action {
	case "ping":
		err, msg = p.Webhooks.Ping(ctx, id), "A ping is queued: its delivery shows below."
	case "enable", "disable":
		on := action == "enable"
		_, err = p.Webhooks.Update(ctx, id, models.WebhookPatch{Enabled: &on}, a)
		msg = "The endpoint is disabled: it gets no events (but the pings you send it) until it is enabled again."
		if on {
			msg = "The endpoint is enabled: it gets the events it asks for from now on."
		}
	case "rotate-secret":
		var secret string
		if secret, err = p.Webhooks.RotateSecret(ctx, id, a); err == nil {
			p.webhookPage(c, http.StatusOK, e, map[string]any{"Secret": secret,
				"Flash": "The secret is rotated. The old secret stays valid for 24 hours."})
			return
		}
	case "delete":
		if err = p.Webhooks.Delete(ctx, id, a); err == nil {
			redirect(c, "/staff/webhooks", "The endpoint "+e.URL+" is deleted: nothing more is sent to it.")
			return
		}
	}
	if err != nil {
		p.webhookError(c, e, err)
		return
	}
	redirect(c, back, msg)
}

// retryWebhookDelivery queues one more attempt, now, of a failed or pending delivery.
func (p *Portal) retryWebhookDelivery(c *gin.Context) {
	ctx, id, did := c.Request.Context(), c.Param("id"), c.Param("delivery")
	e, err := p.Webhooks.Get(ctx, id)
	if err != nil {
		p.pageError(c, "Webhook", err)
		return
	}
	if err := p.Webhooks.Retry(ctx, id, did); err != nil {
		p.webhookError(c, e, err)
		return
	}
	redirect(c, "/staff/webhooks/"+url.PathEscape(id), "One more attempt of delivery "+did+" is queued now.")
}

// webhookError shows an action's error on the endpoint's page; what has no page to be shown on
// (a delivery that is not there, a failure of ours) is a page of its own.
func (p *Portal) webhookError(c *gin.Context, e *models.WebhookEndpoint, err error) {
	status, msg := p.errorText(err)
	if status >= 500 || store.ErrorCode(err) == models.CodeNotFound {
		p.pageError(c, "Webhook", err)
		return
	}
	p.webhookPage(c, status, e, map[string]any{"ActionError": msg})
}
