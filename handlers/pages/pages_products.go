package pages

// The catalogue, for staff ops: every product with its versions and their phases, a form to add
// a product, one to add a version, and the phase of each version to change (what POST /v1/products,
// POST /v1/products/{sku}/versions and PATCH …/versions/{version} do).

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

func (p *Portal) products(c *gin.Context) {
	p.productsPage(c, http.StatusOK, nil)
}

// productsPage lists the products (a page at a time) with their versions; extra carries a
// refused form's errors and values.
func (p *Portal) productsPage(c *gin.Context, status int, extra map[string]any) {
	listPage(p, c, status, "products", map[string]any{"Title": "Products", "Nav": "products",
		"Phases": []string{models.PhaseFull, models.PhaseLimited, models.PhaseDiscontinued}}, extra,
		func(pg models.Page) ([]models.Product, string, error) {
			return p.Catalogue.Products(c.Request.Context(), pg)
		})
}

// createProduct adds a product; a refused form comes back with its errors next to its fields.
func (p *Portal) createProduct(c *gin.Context) {
	sku, name := strings.TrimSpace(c.PostForm("sku")), strings.TrimSpace(c.PostForm("name"))
	if _, err := p.Catalogue.CreateProduct(c.Request.Context(), sku, name, p.actor(c)); err != nil {
		p.productFormError(c, "product", err, map[string]string{"sku": sku, "name": name})
		return
	}
	redirect(c, "/staff/products", "Product "+sku+" added. Add its first version below.")
}

// addVersion adds a version to a product.
func (p *Portal) addVersion(c *gin.Context) {
	sku := c.Param("sku")
	in := models.VersionInput{Version: strings.TrimSpace(c.PostForm("version")), ReleasedOn: strings.TrimSpace(c.PostForm("released_on")),
		Phase: c.PostForm("phase")}
	if _, err := p.Catalogue.AddVersion(c.Request.Context(), sku, in, p.actor(c)); err != nil {
		p.productFormError(c, "version:"+sku, err, map[string]string{"version": in.Version, "released_on": in.ReleasedOn})
		return
	}
	redirect(c, "/staff/products#product-"+url.PathEscape(sku), sku+" "+in.Version+" added.")
}

// setPhase moves a version to another phase of its lifecycle.
func (p *Portal) setPhase(c *gin.Context) {
	sku, version, phase := c.Param("sku"), c.Param("version"), c.PostForm("phase")
	if _, err := p.Catalogue.SetPhase(c.Request.Context(), sku, version, phase, "", p.actor(c)); err != nil {
		p.productFormError(c, "phase:"+sku+":"+version, err, nil)
		return
	}
	redirect(c, "/staff/products#product-"+url.PathEscape(sku), sku+" "+version+" is now: "+phaseBadges.word(phase)+".")
}

// productFormError shows the products page again with the refusal next to the form it came from
// (form names it), or the error page for what is not about the form.
func (p *Portal) productFormError(c *gin.Context, form string, err error, values map[string]string) {
	status, msg := p.errorText(err)
	if status >= 500 || status == http.StatusForbidden || status == http.StatusUnauthorized {
		p.pageError(c, "Products", err)
		return
	}
	fields := fieldMessages(err)
	if fields != nil {
		msg = strings.Join(sortedValues(fields), " ")
	}
	p.productsPage(c, status, map[string]any{"FormFor": form, "FormError": msg, "Form": values})
}
