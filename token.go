package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/jwe"
	"github.com/coffeemesh/orders/internal/devissuer"
)

const tokenUsage = `usage:
  orders token inspect [serve's flags] [TOKEN|-]         decode a token and say whether this API accepts it
  orders token mint --sub S [--scope "..."] [--ttl 1h] [--cnf-cert cert.pem] [--encrypt-to key.pub.pem]
                                                         a token from the running --dev issuer
  orders token dpop-key > KEY.jwk                        a new key for DPoP proofs
  orders token dpop --key KEY.jwk --url U [--token T]    a DPoP proof for one request

Run "orders token inspect -h" or "orders token mint -h" for the flags.
`

// errRefused means token inspect found the token unacceptable; the report
// says why, so main adds nothing.
var errRefused = errors.New("the API would refuse this token")

// tokenCommand runs the token subcommands.
func tokenCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokenUsage)
		return errors.New("token needs inspect or mint")
	}
	switch {
	case args[0] == "inspect":
		return inspect(ctx, args[1:], getenv, stdin, stdout)
	case args[0] == "mint":
		return mint(ctx, args[1:], getenv, stdout)
	case args[0] == "dpop-key":
		return newDPoPKey(args[1:], stdout)
	case args[0] == "dpop":
		return printDPoPProof(args[1:], stdout)
	case isHelp(args[0]):
		fmt.Fprint(stdout, tokenUsage)
		return flag.ErrHelp
	}
	fmt.Fprint(stderr, tokenUsage)
	return fmt.Errorf("unknown token command %q", args[0])
}

// inspect prints a token's header and claims (never its signature; for an
// encrypted token, its protected header, then, with the API's decryption
// keys, the header and claims of the signed token inside), then
// verifies it as serve would, with the same configuration, and says which
// check fails and why. It returns errRefused when the API would refuse it.
func inspect(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	cfg, rest, err := loadConfigFor("token inspect", args, getenv, stdout)
	if err != nil {
		return err
	}
	var token string
	switch {
	case len(rest) > 1:
		return fmt.Errorf("token inspect takes one token, got %d arguments", len(rest))
	case len(rest) == 1 && rest[0] != "-":
		token = rest[0]
	default:
		b, err := io.ReadAll(io.LimitReader(stdin, auth.MaxTokenLength+1))
		if err != nil {
			return err
		}
		token = string(b)
	}
	token = strings.TrimPrefix(strings.TrimSpace(token), "Bearer ")
	now := time.Now()
	signed := token
	if strings.Count(token, ".") == 4 {
		outer, _ := decodeUnverified(token)
		fmt.Fprintln(stdout, "encrypted (JWE), protected header:")
		printJSON(stdout, outer, now)
		signed = decryptForDisplay(cfg.auth.DecryptionKeys, token, stdout)
	}
	var header, claims map[string]any
	if signed != "" {
		header, claims = decodeUnverified(signed)
		fmt.Fprintln(stdout, "header:")
		printJSON(stdout, header, now)
		fmt.Fprintln(stdout, "claims:")
		printJSON(stdout, claims, now)
	}

	v, err := auth.NewVerifier(cfg.auth, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	p, err := v.Verify(ctx, token)
	if err != nil {
		fmt.Fprintf(stdout, "\nREFUSED: %s\n", explain(err, claims, cfg.auth, now))
		var e *auth.Error
		if errors.As(err, &e) {
			fmt.Fprintf(stdout, "reason: %s (as the server's log and metrics name it)\n", e.Reason)
		}
		return errRefused
	}
	scopes := make([]string, len(p.Scopes))
	for i, s := range p.Scopes {
		scopes[i] = string(s)
	}
	fmt.Fprintf(stdout, "\nACCEPTED: %s at %s, with scopes [%s]\n", p.Subject, p.Issuer, strings.Join(scopes, " "))
	if p.JKT != "" {
		fmt.Fprintln(stdout, "bound to a DPoP key (cnf.jkt): the API also wants the DPoP scheme and, on every call, a fresh proof signed by that key")
	}
	if p.X5T != "" {
		fmt.Fprintln(stdout, "bound to a client certificate (cnf x5t#S256): the API also wants a connection that presents that certificate")
	}
	return nil
}

// decryptForDisplay returns the plaintext of the encrypted token, the
// signed token inside it for display, or "" after saying why it has none.
// Whether the API accepts the token is Verify's to say.
func decryptForDisplay(keys *jwe.Keys, token string, stdout io.Writer) string {
	if keys == nil {
		fmt.Fprintln(stdout, "(its claims are encrypted, and ORDERS_AUTH_DECRYPTION_KEY_FILE names no key to decrypt them)")
		return ""
	}
	h, err := jwe.ParseHeader(token)
	if err != nil {
		fmt.Fprintf(stdout, "(not decrypted: %v)\n", err)
		return ""
	}
	plaintext, err := keys.Decrypt(token, h)
	if err != nil {
		fmt.Fprintf(stdout, "(not decrypted: %v)\n", err)
		return ""
	}
	fmt.Fprintln(stdout, "decrypted with ORDERS_AUTH_DECRYPTION_KEY_FILE; the token inside:")
	return string(plaintext)
}

// decodeUnverified decodes a token's header and claims for display; parts
// that do not decode are shown as absent. The signature is never decoded.
func decodeUnverified(token string) (header, claims map[string]any) {
	parts := strings.Split(token, ".")
	decode := func(i int) map[string]any {
		if i >= len(parts) {
			return nil
		}
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil
		}
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if dec.Decode(&m) != nil {
			return nil
		}
		return m
	}
	return decode(0), decode(1)
}

// timeClaims are shown with their date and how far from now they are.
var timeClaims = []string{"exp", "nbf", "iat", "auth_time"}

func printJSON(w io.Writer, m map[string]any, now time.Time) {
	if m == nil {
		fmt.Fprintln(w, "  (not valid base64url JSON)")
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b, _ := json.Marshal(m[k])
		line := fmt.Sprintf("  %s: %s", k, b)
		if t, ok := dateOf(m[k]); ok && slices.Contains(timeClaims, k) {
			line += fmt.Sprintf("  (%s, %s)", t.UTC().Format(time.RFC3339), relative(k, t, now))
		}
		fmt.Fprintln(w, line)
	}
}

func dateOf(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 253402300799 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// relative says a date in words: "expired 3m ago", "expires in 59m".
func relative(claim string, t, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	if d == 0 {
		return "now"
	}
	past := d < 0
	if past {
		d = -d
	}
	switch {
	case claim == "exp" && past:
		return "expired " + d.String() + " ago"
	case claim == "exp":
		return "expires in " + d.String()
	case claim == "nbf" && !past:
		return "not valid for another " + d.String()
	case past:
		return d.String() + " ago"
	}
	return "in " + d.String() + ", in the future"
}

// explain turns a verification failure into words a person understands,
// naming the value the token has and the one the API wants.
func explain(err error, claims map[string]any, cfg auth.Config, now time.Time) string {
	var e *auth.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	trusted := make([]string, len(cfg.Issuers))
	for i, iss := range cfg.Issuers {
		trusted[i] = iss.URL
	}
	show := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	switch e.Reason {
	case auth.ReasonWrongIssuer:
		return fmt.Sprintf("iss is %s; this API trusts %s", show(claims["iss"]), show(trusted))
	case auth.ReasonWrongAudience, auth.ReasonNoAudience:
		for _, iss := range cfg.Issuers {
			if claims["iss"] == iss.URL {
				return fmt.Sprintf("%s is %s; this API accepts %s", iss.AudienceClaim, show(claims[iss.AudienceClaim]), show(iss.Audiences))
			}
		}
	case auth.ReasonExpired:
		if t, ok := dateOf(claims["exp"]); ok {
			return fmt.Sprintf("the token %s (exp %s; %s of clock skew allowed)", relative("exp", t, now), t.UTC().Format(time.RFC3339), cfg.Leeway)
		}
	case auth.ReasonNotYetValid, auth.ReasonIssuedInFuture:
		return fmt.Sprintf("the token is not valid yet: nbf %s, iat %s (%s of clock skew allowed)", show(claims["nbf"]), show(claims["iat"]), cfg.Leeway)
	}
	if hint := e.Reason.Hint(); hint != "" {
		return e.Description() + "; " + hint
	}
	return e.Description()
}

// Lifetimes token mint may ask for: the dev issuer refuses more than
// maxMintTTL, and a token counts time in whole seconds.
const (
	minMintTTL = time.Second
	maxMintTTL = 24 * time.Hour
)

// mint asks the running --dev issuer for a token through the
// client_credentials grant, the subject being the client id.
func mint(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	decls := only("config", "dev-issuer-addr")
	fs, flags := newFlagSet("token mint", decls)
	sub := fs.String("sub", "", "the token's subject (required)")
	scope := fs.String("scope", "", "space-separated scopes; default: all the dev issuer offers")
	ttl := fs.Duration("ttl", devissuer.TokenTTL, "how long the token lives, from "+minMintTTL.String()+" to 24h")
	cnfCert := fs.String("cnf-cert", "", "PEM client certificate the token is bound to (cnf x5t#S256, RFC 8705); default: none")
	keyFile := fs.String("dpop-key", "", "a private JWK from token dpop-key: the token is bound to it (DPoP)")
	encryptTo := fs.String("encrypt-to", "", "the API's public key (PEM, certificate, JWK or JWK set): the token is encrypted to it (JWE), as ORDERS_AUTH_DECRYPTION_KEY_FILE's private key decrypts")
	if err := parseFlags(fs, args, commandUsage["token mint"], stdout); err != nil {
		return err
	}
	src := sources{flags: flags, getenv: getenv}
	errs := src.readFile()
	var v values
	errs = append(errs, src.apply(decls, &v)...)
	if *sub == "" || fs.NArg() > 0 {
		errs = append(errs, errors.New("token mint needs --sub and takes no arguments"))
	}
	if err := checkMintTTL(*ttl); err != nil {
		errs = append(errs, err)
	}
	var key *dpopKey
	if *keyFile != "" {
		k, err := readDPoPKey(*keyFile)
		errs = append(errs, err)
		key = &k
	}
	var recipient *jose.Recipient
	if *encryptTo != "" {
		r, err := readRecipient(*encryptTo)
		if err != nil {
			errs = append(errs, fmt.Errorf("--encrypt-to %s: %w", *encryptTo, err))
		}
		recipient = &r
	}
	x5t := ""
	if *cnfCert != "" {
		var err error
		if x5t, err = certThumbprint(*cnfCert); err != nil {
			errs = append(errs, fmt.Errorf("--cnf-cert %s: %w", *cnfCert, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return requestToken(ctx, v.cfg.devIssuerAddr, tokenRequest{sub: *sub, scope: *scope, ttl: *ttl, key: key, x5t: x5t, encryptTo: recipient}, stdout)
}

// certThumbprint returns the RFC 8705 thumbprint of the first certificate
// of the PEM file path.
func certThumbprint(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errors.New("holds no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", err
	}
	return auth.CertificateThumbprint(cert), nil
}

// checkMintTTL says what is wrong with a lifetime token mint cannot ask for,
// and what is allowed.
func checkMintTTL(ttl time.Duration) error {
	allowed := "give one from " + minMintTTL.String() + " to 24h, such as 5m or 1h"
	switch {
	case ttl <= 0:
		return fmt.Errorf("--ttl %s: a token must live for some time; %s", ttl, allowed)
	case ttl < minMintTTL:
		return fmt.Errorf("--ttl %s: a token's exp counts whole seconds; %s", ttl, allowed)
	case ttl > maxMintTTL:
		return fmt.Errorf("--ttl %s: the dev issuer mints tokens for at most 24h; %s", ttl, allowed)
	}
	return nil
}

// tokenRequest is what token mint asks the dev issuer for.
type tokenRequest struct {
	sub, scope string
	ttl        time.Duration
	// key, when set, signs a DPoP proof, so the token is bound to it.
	key *dpopKey
	// x5t, when set, binds the token to the client certificate of that
	// SHA-256 thumbprint (RFC 8705).
	x5t string
	// encryptTo, when set, is the API's public key the token is encrypted
	// to once the dev issuer has signed it.
	encryptTo *jose.Recipient
}

// requestToken gets the token of tr from the dev issuer at issuerAddr and
// prints it.
func requestToken(ctx context.Context, issuerAddr string, tr tokenRequest, stdout io.Writer) error {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {tr.sub}, "ttl": {tr.ttl.String()}}
	if tr.scope != "" {
		form.Set("scope", tr.scope)
	}
	if tr.x5t != "" {
		form.Set(devissuer.CertThumbprintParam, tr.x5t)
	}
	tokenURL := "http://" + issuerAddr + devissuer.TokenPath
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if tr.key != nil {
		proof, err := tr.key.proof(http.MethodPost, tokenURL, "", "")
		if err != nil {
			return err
		}
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("is serve --dev running? %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken      string `json:"access_token"`
		ErrorDescription string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil || body.AccessToken == "" {
		return fmt.Errorf("the dev issuer answered %s: %s", resp.Status, body.ErrorDescription)
	}
	token := body.AccessToken
	if tr.encryptTo != nil {
		if token, err = encryptToken(token, *tr.encryptTo); err != nil {
			return fmt.Errorf("encrypt the token: %w", err)
		}
	}
	fmt.Fprintln(stdout, token)
	return nil
}
