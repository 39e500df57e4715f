package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// commandUsage opens the help of each command with flags; the flags follow.
var commandUsage = map[string]string{
	"serve": `usage: orders serve [--dev] [flags]

Serve the API, after bringing the database's schema up to date. Every flag
is also an environment variable; a flag wins over the environment, which wins
over the configuration file, which wins over the default.

flags:
`,
	"migrate": `usage: orders migrate [up|status] [flags]

Apply the database migrations (up, the default) or list them (status). The
database is found as serve finds it: flag, environment, configuration file.
While it does not answer, migrate retries with backoff, saying so on stderr,
for up to --database-start-timeout, then gives up.

flags:
`,
	"token inspect": `usage: orders token inspect [serve's flags] [TOKEN|-]

Print a token's header and claims, then verify it as serve would with the
same settings, and say which check fails. The token is read from standard
input when it is - or absent. Exit status 1 when the API would refuse it.

flags:
`,
	"token mint": `usage: orders token mint --sub S [--scope "..."] [--ttl 1h] [--cnf-cert cert.pem] [--dpop-key KEY.jwk] [--encrypt-to KEY.pub.pem]

Get a token from the issuer of a running serve --dev; with --dpop-key, a
DPoP-bound token (token_type DPoP, cnf.jkt that key's thumbprint); with
--encrypt-to, that token encrypted to the API's public key, a PEM key or
certificate, a JWK, or a JWK set (its only key, or its first with use enc)
(JWE: the alg the JWK pins, else RSA-OAEP-256 or ECDH-ES; A256GCM; cty
JWT), which serve decrypts with ORDERS_AUTH_DECRYPTION_KEY_FILE.

flags:
`,
	"token dpop-key": `usage: orders token dpop-key [--alg ES256] > KEY.jwk

Print a new private key as a JWK, for token dpop and token mint --dpop-key.
Keep it as you would a password: whoever holds it can spend its tokens.

flags:
`,
	"token dpop": `usage: orders token dpop --key KEY.jwk --url U [--method GET] [--token T] [--nonce N]

Print a DPoP proof (RFC 9449) signed with KEY.jwk for one request: send it
in the DPoP header, with Authorization: DPoP T. A proof is good once, for
one minute.

flags:
`,
}

// newFlagSet returns a flag set of the declared settings, and what each
// flag was given ("" when it was not), by flag name. It prints nothing:
// parseFlags does.
func newFlagSet(name string, decls []setting) (*flag.FlagSet, map[string]*string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	given := make(map[string]*string, len(decls))
	for _, s := range decls {
		doc := s.doc + " ($" + s.env + ")"
		if s.def != "" {
			doc += " (default " + s.def + ")"
		}
		given[s.flag] = fs.String(s.flag, "", doc)
	}
	return fs, given
}

// parseFlags parses args into fs. Asked for help (-h or --help), it writes
// usage and the flags to help and returns flag.ErrHelp, which run answers
// with exit status 0. Any other error says where the flags are listed.
func parseFlags(fs *flag.FlagSet, args []string, usage string, help io.Writer) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(help, usage)
		fs.SetOutput(help)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		return err
	case err != nil:
		return fmt.Errorf("%w (run \"orders %s -h\" for the flags)", err, fs.Name())
	}
	return nil
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "-help" || arg == "--help"
}

// envPrefix starts every environment variable of a setting.
const envPrefix = "ORDERS_"

// testEnvPrefix starts the variables the project's tests read; no setting
// reads them, and none is a typo.
const testEnvPrefix = "ORDERS_TEST_"

// unknownVariable is an ORDERS_ environment variable that no setting reads,
// most likely a misspelt one.
type unknownVariable struct {
	name string
	// closest is the setting's variable nearest to name in edit distance.
	closest string
}

// unknownEnv returns the ORDERS_ variables of environ (as os.Environ gives
// it) that no setting reads, each with the closest variable that one does.
func unknownEnv(environ []string) []unknownVariable {
	var known []string
	for _, s := range settings() {
		known = append(known, s.env)
	}
	var out []unknownVariable
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || strings.HasPrefix(name, testEnvPrefix) || slices.Contains(known, name) {
			continue
		}
		u := unknownVariable{name: name, closest: known[0]}
		for _, k := range known[1:] {
			if editDistance(name, k) < editDistance(name, u.closest) {
				u.closest = k
			}
		}
		out = append(out, u)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b: how many
// letters must be inserted, deleted or replaced to turn one into the other.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// warnUnknownEnv writes a warning for each unknown variable to w, for the
// commands that have no log.
func warnUnknownEnv(w io.Writer, unknown []unknownVariable) {
	for _, u := range unknown {
		fmt.Fprintf(w, "orders: warning: no setting reads %s; did you mean %s?\n", u.name, u.closest)
	}
}

// lookupIn returns a getenv over environ, as os.Environ gives it; of a
// name given twice, the first value counts, as with os.Getenv.
func lookupIn(environ []string) func(string) string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if _, seen := m[k]; !seen {
			m[k] = v
		}
	}
	return func(k string) string { return m[k] }
}
