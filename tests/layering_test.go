package tests

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportsPointOneWay checks the direction of imports between the
// project's packages (STYLE.md, section 1): api never reaches repository,
// and auth, models and migrations import no project package but auth's own.
// payments may import auth/clientauth, which authenticates the API as an
// OAuth client at the token endpoint as introspection does at its own, and
// nothing else of auth.
func TestImportsPointOneWay(t *testing.T) {
	t.Parallel()
	const mod = "github.com/coffeemesh/orders"
	allowed := map[string][]string{
		"":                         {"api", "auth", "auth/dpop", "auth/jwe", "auth/introspect", "auth/clientauth", "auth/dpop/redisstore", "internal/devissuer", "internal/devpayments", "payments", "ratelimit", "repository", "migrations", "models"},
		"api":                      {"auth", "models"},
		"auth":                     {"auth/jwks", "auth/dpop", "auth/jwe", "auth/introspect", "auth/clientauth", "auth/internal/jsonobject"},
		"auth/introspect":          {"auth/jwks", "auth/dpop", "auth/clientauth"},
		"auth/clientauth":          {"auth/internal/pemkey"},
		"auth/jwe":                 {"auth/internal/jsonobject", "auth/internal/pemkey"},
		"auth/jwks":                nil,
		"auth/dpop":                {"auth/jwks", "auth/internal/jsonobject"},
		"auth/internal/jsonobject": nil,
		"auth/internal/pemkey":     nil,
		"auth/dpop/dpoptest":       {"auth/dpop"},
		"auth/dpop/redisstore":     {"auth/dpop"},
		"internal/devissuer":       {"auth/dpop"},
		"internal/devpayments":     {"auth"},
		"auth/authtest":            {"auth", "auth/jwe", "auth/clientauth", "internal/devissuer"},
		"repository/repotest":      {"repository", "migrations"},
		"models":                   nil,
		"repository":               {"models"},
		"payments":                 {"auth/clientauth", "models"},
		"ratelimit":                nil,
		"migrations":               nil,
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, mod+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], mod), "/")
		if pkg == "tests" || strings.HasPrefix(pkg, "tests/") {
			continue
		}
		want, known := allowed[pkg]
		if !known {
			t.Errorf("package %q has no rule here; add one", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			if dep, ok := strings.CutPrefix(imp, mod+"/"); ok && !slices.Contains(want, dep) {
				t.Errorf("%s imports %s; STYLE.md allows only %v", fields[0], imp, want)
			}
		}
	}
}
