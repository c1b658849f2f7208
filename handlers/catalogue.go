package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

type versionJSON struct {
	Version    string      `json:"version"`
	Major      int         `json:"major"`
	ReleasedOn models.Date `json:"released_on"`
	Phase      string      `json:"phase"`
}

type productJSON struct {
	SKU      string        `json:"sku"`
	Name     string        `json:"name"`
	Versions []versionJSON `json:"versions"`
}

func toVersionJSON(v *models.ProductVersion) versionJSON {
	return versionJSON{Version: v.Version, Major: v.Major, ReleasedOn: v.ReleasedOn, Phase: v.Phase}
}

func toProductJSON(p *models.Product) productJSON {
	return productJSON{SKU: p.SKU, Name: p.Name, Versions: mapSlice(p.Versions, toVersionJSON)}
}

type productRequest struct {
	SKU  string `json:"sku"`
	Name string `json:"name"`
}

func (h *api) createProduct(c *gin.Context, req productRequest) {
	p, err := h.catalogue.CreateProduct(c.Request.Context(), req.SKU, req.Name, actor(c))
	respond(c, http.StatusCreated, p, err, toProductJSON)
}

func (h *api) listProducts(c *gin.Context) {
	listPage(c, func(pg models.Page) ([]models.Product, string, error) {
		return h.catalogue.Products(c.Request.Context(), pg)
	}, toProductJSON)
}

func (h *api) getProduct(c *gin.Context) {
	p, err := h.catalogue.Product(c.Request.Context(), c.Param("sku"))
	respondTagged(c, http.StatusOK, p, err, toProductJSON)
}

type versionRequest struct {
	Version    string `json:"version"`
	ReleasedOn string `json:"released_on"`
	Phase      string `json:"phase"`
}

func (h *api) addVersion(c *gin.Context, req versionRequest) {
	v, err := h.catalogue.AddVersion(c.Request.Context(), c.Param("sku"), models.VersionInput(req), actor(c))
	respond(c, http.StatusCreated, v, err, toVersionJSON)
}

type phaseRequest struct {
	Phase string `json:"phase"`
}

func (h *api) setPhase(c *gin.Context, req phaseRequest) {
	v, err := h.catalogue.SetPhase(c.Request.Context(), c.Param("sku"), c.Param("version"), req.Phase, c.GetHeader("If-Match"), actor(c))
	respond(c, http.StatusOK, v, err, toVersionJSON)
}
