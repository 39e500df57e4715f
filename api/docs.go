package api

import (
	"context"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/goccy/go-yaml"
	swaggerfiles "github.com/swaggo/files/v2"
)

// Docs configures the contract and the interactive documentation.
type Docs struct {
	// OpenAPI is openapi.yaml as shipped.
	OpenAPI []byte
	// ClientID is the OAuth client that the documentation page authorizes
	// as, with the authorization code flow and PKCE; empty leaves the user
	// to type one, or to paste a bearer token.
	ClientID string
	// OAuth returns the issuer's authorization and token endpoints.
	OAuth func(ctx context.Context) (authorizationURL, tokenURL string, err error)
	// Scopes are the issuer's names for the scopes Authorize asks for, with
	// what each grants; nil means the API's own names.
	Scopes map[string]string
}

// ScopeNames are the scopes the documentation page asks for, sorted.
func (d Docs) ScopeNames() []string {
	if len(d.Scopes) == 0 {
		return []string{string(ScopeRead), string(ScopeWrite)}
	}
	return sortedKeys(d.Scopes)
}

// docsPage is /docs: Swagger UI from the assets embedded in the binary (no
// CDN), reading /openapi.json. Authorize offers a pasted bearer token and the
// authorization code flow with PKCE, as a public client, so the dialog's
// client_secret field is hidden; the implicit flow is never offered.
var docsPage = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>CoffeeMesh Orders API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
<style>
/* The page authorizes as a public client, with PKCE: it has no client
   secret, yet Swagger UI asks for one in every authorization code flow. */
.auth-container .wrapper:has(> label[for="client_secret_authorizationCode"]) { display: none; }
</style>
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-ui-standalone-preset.js"></script>
<script>
window.onload = function () {
  const ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout",
    deepLinking: true,
    oauth2RedirectUrl: window.location.origin + "/docs/oauth2-redirect.html"
  });
  ui.initOAuth({clientId: {{.ClientID}}, usePkceWithAuthorizationCodeGrant: true, scopes: {{.ScopeNames}}});
  window.ui = ui;
};
</script>
</body>
</html>
`))

// handleContractYAML serves openapi.yaml as shipped.
func handleContractYAML(d Docs) handler {
	return func(c *gin.Context) error {
		c.Data(http.StatusOK, "application/yaml", d.OpenAPI)
		return nil
	}
}

// handleContractJSON serves the contract as the documentation page reads it
// (see contractJSON).
func handleContractJSON(d Docs) handler {
	return func(c *gin.Context) error {
		b, err := contractJSON(c.Request.Context(), d)
		if err != nil {
			return err
		}
		c.Data(http.StatusOK, "application/json", b)
		return nil
	}
}

// handleDocsPage serves the documentation page.
func handleDocsPage(d Docs) handler {
	return func(c *gin.Context) error {
		c.Header("Content-Type", "text/html; charset=utf-8")
		return docsPage.Execute(c.Writer, d)
	}
}

// handleDocsAsset serves Swagger UI's files under /docs/, and the page itself
// for /docs/ and /docs/index.html.
func handleDocsAsset(d Docs) handler {
	page := handleDocsPage(d)
	assets := http.StripPrefix("/docs/", http.FileServerFS(swaggerfiles.FS))
	return func(c *gin.Context) error {
		name := strings.TrimPrefix(c.Param("file"), "/")
		if name == "" || name == "index.html" {
			return page(c)
		}
		if _, err := fs.Stat(swaggerfiles.FS, name); err != nil {
			return errNoRoute
		}
		assets.ServeHTTP(c.Writer, c.Request)
		return nil
	}
}

// contractJSON returns the contract as JSON for the documentation page: this
// server first among the servers, so "Try it out" calls it, and the OAuth
// flow the page offers, the authorization code flow (with PKCE) against the
// issuer's endpoints, in place of the file's client credentials placeholder.
// If the issuer cannot be reached, the file's flows stay.
func contractJSON(ctx context.Context, d Docs) ([]byte, error) {
	raw, err := yaml.YAMLToJSON(d.OpenAPI)
	if err != nil {
		return nil, err
	}
	var spec map[string]any
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, err
	}
	servers, _ := spec["servers"].([]any)
	spec["servers"] = append([]any{map[string]any{"url": "/", "description": "this server"}}, servers...)
	scheme := dig(spec, "components", "securitySchemes", "oauth2")
	if d.OAuth == nil || scheme == nil {
		return json.Marshal(spec)
	}
	authURL, tokenURL, err := d.OAuth(ctx)
	if err != nil || authURL == "" || tokenURL == "" {
		return json.Marshal(spec)
	}
	scopes := map[string]any{}
	if flows, ok := scheme["flows"].(map[string]any); ok {
		for _, f := range flows {
			if f, ok := f.(map[string]any); ok {
				if s, ok := f["scopes"].(map[string]any); ok {
					scopes = s
				}
			}
		}
	}
	if len(d.Scopes) > 0 {
		scopes = map[string]any{}
		for name, grants := range d.Scopes {
			scopes[name] = grants
		}
	}
	scheme["flows"] = map[string]any{"authorizationCode": map[string]any{
		"authorizationUrl": authURL, "tokenUrl": tokenURL, "scopes": scopes,
	}}
	scheme["description"] = "The configured issuer's OAuth 2.0 authorization code flow with PKCE, at the endpoints its discovery document names. This page is a public client: it sends no client secret."
	return json.Marshal(spec)
}

// dig walks nested JSON objects by key.
func dig(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			return nil
		}
		m = next
	}
	return m
}
