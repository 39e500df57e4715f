package auth

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// ApplyProvider fills in the defaults of the named provider preset where iss
// leaves them empty (scope claims, accepted typ values, audience claim) and
// checks iss against the way that provider names its issuers. A preset never
// weakens a check: signature, issuer, audience and expiry are always
// verified. The names are those of ProviderNames.
func ApplyProvider(name string, iss *Issuer) error {
	p, ok := providers()[name]
	if !ok {
		return fmt.Errorf("provider %q is not one of %s", name, strings.Join(ProviderNames(), ", "))
	}
	return p.apply(iss)
}

// ProviderNames lists the provider presets, sorted.
func ProviderNames() []string {
	return slices.Sorted(maps.Keys(providers()))
}

// provider is a preset: defaults that fit how one identity provider shapes
// its access tokens, and checks of the settings that catch the usual
// mistakes.
type provider struct {
	// scopeClaims are where the provider puts scopes or roles.
	scopeClaims func(iss Issuer) []string
	// types are the typ values of its access tokens.
	types []string
	// audienceClaim is the claim that holds its audience.
	audienceClaim string
	// requiredClaims are claims its access tokens always carry, and its
	// other tokens do not.
	requiredClaims map[string]string
	// check refuses settings the provider never issues, and may fill in
	// what follows from them.
	check func(iss *Issuer) error
}

// apply fills in the preset's defaults where iss leaves them empty, then
// runs its check.
func (p provider) apply(iss *Issuer) error {
	if len(iss.ScopeClaims) == 0 && p.scopeClaims != nil {
		iss.ScopeClaims = p.scopeClaims(*iss)
	}
	if len(iss.Types) == 0 {
		iss.Types = p.types
	}
	if iss.AudienceClaim == "" {
		iss.AudienceClaim = p.audienceClaim
	}
	if iss.RequiredClaims == nil {
		iss.RequiredClaims = p.requiredClaims
	}
	if p.check == nil {
		return nil
	}
	return p.check(iss)
}

// Hosts and paths of the providers' issuers.
var (
	entraV1Host   = regexp.MustCompile(`^sts\.windows\.net$`)
	entraV1Path   = regexp.MustCompile(`^/([0-9a-f-]{36})/$`)
	entraV2Host   = regexp.MustCompile(`^login\.microsoftonline\.com$`)
	entraV2Path   = regexp.MustCompile(`^/[0-9a-f-]{36}/v2\.0$`)
	cognitoHost   = regexp.MustCompile(`^cognito-idp\.[a-z0-9-]+\.amazonaws\.com$`)
	cognitoPath   = regexp.MustCompile(`^/[a-z0-9-]+_[A-Za-z0-9]+$`)
	anyHost       = regexp.MustCompile(`.`)
	keycloakRealm = regexp.MustCompile(`/realms/[^/]+$`)
)

// providers are the presets, by the name ORDERS_AUTH_PROVIDER takes.
func providers() map[string]provider {
	return map[string]provider{
		// Auth0: scopes in scope, RBAC permissions in permissions; the
		// issuer is the tenant URL with its trailing slash.
		"auth0": {
			scopeClaims: fixed("scope", "permissions"),
			check: func(iss *Issuer) error {
				if !strings.HasSuffix(iss.URL, "/") {
					return fmt.Errorf("an Auth0 issuer ends with a slash: use %q", iss.URL+"/")
				}
				return nil
			},
		},
		// Okta custom authorization servers: scopes in an scp array; access
		// tokens may be typed application/okta-internal-at+jwt.
		"okta": {
			scopeClaims: fixed("scp"),
			types:       append(DefaultTypes(), "okta-internal-at+jwt"),
		},
		// Microsoft Entra ID: delegated scopes in scp, application
		// permissions (app roles) in roles. v1 tokens name the
		// sts.windows.net issuer, whose keys are published under
		// login.microsoftonline.com.
		"entra": {
			scopeClaims: fixed("scp", "roles"),
			check: func(iss *Issuer) error {
				v1 := issuerForm(iss.URL, entraV1Host, entraV1Path)
				switch {
				case v1 && iss.JWKSURL == "" && strings.HasPrefix(iss.URL, "https://sts.windows.net/"):
					tenant := entraV1Path.FindStringSubmatch(strings.TrimPrefix(iss.URL, "https://sts.windows.net"))[1]
					iss.JWKSURL = "https://login.microsoftonline.com/" + tenant + "/discovery/keys"
				case !v1 && !issuerForm(iss.URL, entraV2Host, entraV2Path):
					return errors.New("an Entra ID issuer is https://login.microsoftonline.com/<tenant-id>/v2.0 (v2 tokens) or https://sts.windows.net/<tenant-id>/ (v1 tokens)")
				}
				return nil
			},
		},
		// AWS Cognito: access tokens carry no aud; the app client id is in
		// client_id and token_use says "access".
		"cognito": {
			scopeClaims:   fixed("scope"),
			audienceClaim: AudienceClaimClientID,
			check: func(iss *Issuer) error {
				if !issuerForm(iss.URL, cognitoHost, cognitoPath) {
					return errors.New("a Cognito issuer is https://cognito-idp.<region>.amazonaws.com/<user-pool-id>")
				}
				if iss.AudienceClaim != AudienceClaimClientID {
					return errors.New("a Cognito access token holds its audience in client_id")
				}
				return nil
			},
		},
		// Keycloak: client scopes in scope, realm roles in
		// realm_access.roles, client roles in resource_access.<client>.roles
		// of the API's client (its audience, bracketed as it may hold dots).
		"keycloak": {
			scopeClaims: func(iss Issuer) []string {
				claims := []string{"scope", "realm_access.roles"}
				for _, aud := range iss.Audiences {
					claims = append(claims, "resource_access["+aud+"].roles")
				}
				return claims
			},
			// Its access tokens say typ "Bearer" in their claims, its ID
			// tokens "ID".
			requiredClaims: map[string]string{"typ": "Bearer"},
			check: func(iss *Issuer) error {
				if !issuerForm(iss.URL, anyHost, keycloakRealm) {
					return errors.New("a Keycloak issuer is https://<host>/realms/<realm>")
				}
				return nil
			},
		},
	}
}

func fixed(claims ...string) func(Issuer) []string {
	return func(Issuer) []string { return claims }
}

// issuerForm checks an issuer URL against a provider's form: host and path
// for the provider's own hosts, the path alone on a loopback host, where a
// local emulator of the provider (or a test) serves it.
func issuerForm(raw string, host *regexp.Regexp, path *regexp.Regexp) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	if IsLoopback(u.Hostname()) {
		return path.MatchString(u.Path)
	}
	return u.Scheme == "https" && host.MatchString(u.Host) && path.MatchString(u.Path)
}
