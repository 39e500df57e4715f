package main

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/coffeemesh/orders/auth"
)

// provider is a preset of ORDERS_AUTH_PROVIDER: defaults that fit how one
// identity provider shapes its access tokens, and checks of the settings
// that catch the usual mistakes. A preset fills in only what was not set,
// and never weakens a check: signature, issuer, audience and expiry are
// always verified.
type provider struct {
	// scopeClaims are where the provider puts scopes or roles.
	scopeClaims func(iss auth.Issuer) []string
	// types are the typ values of its access tokens.
	types []string
	// audienceClaim is the claim that holds its audience.
	audienceClaim string
	// check refuses settings the provider never issues, and may fill in
	// what follows from them.
	check func(iss *auth.Issuer) error
}

// apply fills in the preset's defaults where iss leaves them empty, then
// runs its check.
func (p provider) apply(iss *auth.Issuer) error {
	if len(iss.ScopeClaims) == 0 && p.scopeClaims != nil {
		iss.ScopeClaims = p.scopeClaims(*iss)
	}
	if len(iss.Types) == 0 {
		iss.Types = p.types
	}
	if iss.AudienceClaim == "" {
		iss.AudienceClaim = p.audienceClaim
	}
	if p.check == nil {
		return nil
	}
	return p.check(iss)
}

var (
	entraV1     = regexp.MustCompile(`^https://sts\.windows\.net/([0-9a-f-]{36})/$`)
	entraV2     = regexp.MustCompile(`^https://login\.microsoftonline\.com/([0-9a-f-]{36})/v2\.0$`)
	cognitoPool = regexp.MustCompile(`^https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/[a-z0-9-]+_[A-Za-z0-9]+$`)
)

// providers are the presets, by the name ORDERS_AUTH_PROVIDER takes.
func providers() map[string]provider {
	return map[string]provider{
		// Auth0: scopes in scope, RBAC permissions in permissions; the
		// issuer is the tenant URL with its trailing slash.
		"auth0": {
			scopeClaims: fixed("scope", "permissions"),
			check: func(iss *auth.Issuer) error {
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
			types:       append(auth.DefaultTypes(), "okta-internal-at+jwt"),
		},
		// Microsoft Entra ID: delegated scopes in scp, application
		// permissions (app roles) in roles. v1 tokens name the
		// sts.windows.net issuer, whose keys are published under
		// login.microsoftonline.com.
		"entra": {
			scopeClaims: fixed("scp", "roles"),
			check: func(iss *auth.Issuer) error {
				m := entraV1.FindStringSubmatch(iss.URL)
				switch {
				case m != nil && iss.JWKSURL == "":
					iss.JWKSURL = "https://login.microsoftonline.com/" + m[1] + "/discovery/keys"
				case m == nil && !entraV2.MatchString(iss.URL):
					return errors.New("an Entra ID issuer is https://login.microsoftonline.com/<tenant-id>/v2.0 (v2 tokens) or https://sts.windows.net/<tenant-id>/ (v1 tokens)")
				}
				return nil
			},
		},
		// AWS Cognito: access tokens carry no aud; the app client id is in
		// client_id and token_use says "access".
		"cognito": {
			scopeClaims:   fixed("scope"),
			audienceClaim: auth.AudienceClaimClientID,
			check: func(iss *auth.Issuer) error {
				if !cognitoPool.MatchString(iss.URL) {
					return errors.New("a Cognito issuer is https://cognito-idp.<region>.amazonaws.com/<user-pool-id>")
				}
				if iss.AudienceClaim != auth.AudienceClaimClientID {
					return errors.New("a Cognito access token holds its audience in client_id")
				}
				return nil
			},
		},
		// Keycloak: client scopes in scope, realm roles in
		// realm_access.roles, client roles in resource_access.<client>.roles
		// of the API's client (its audience).
		"keycloak": {
			scopeClaims: func(iss auth.Issuer) []string {
				claims := []string{"scope", "realm_access.roles"}
				for _, aud := range iss.Audiences {
					claims = append(claims, "resource_access."+aud+".roles")
				}
				return claims
			},
			check: func(iss *auth.Issuer) error {
				if !strings.Contains(iss.URL, "/realms/") {
					return errors.New("a Keycloak issuer is https://<host>/realms/<realm>")
				}
				return nil
			},
		},
	}
}

func fixed(claims ...string) func(auth.Issuer) []string {
	return func(auth.Issuer) []string { return claims }
}

func providerNames() []string {
	return slices.Sorted(maps.Keys(providers()))
}
