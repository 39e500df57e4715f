package devissuer

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// AuthorizePath is the authorization endpoint of the authorization code flow.
const AuthorizePath = "/authorize"

// codeTTL is how long an authorization code may wait to be exchanged, and
// maxPendingCodes how many may wait at once.
const (
	codeTTL         = time.Minute
	maxPendingCodes = 1000
)

// grant is an authorization code and what it was issued for.
type grant struct {
	clientID, redirectURI, challenge, subject string
	scopes                                    []string
	expires                                   time.Time
}

var (
	pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	pkceVerifier  = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
)

// loginPage lets a developer choose who to be and which scopes to grant.
var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Orders dev issuer: sign in</title>
<style>body{font-family:sans-serif;max-width:30em;margin:3em auto}label{display:block;margin:.6em 0}</style></head>
<body>
<h1>Orders dev issuer</h1>
<p>This local issuer signs tokens for whoever asks; it exists only in <code>serve --dev</code>.</p>
<form method="post" action="{{.Action}}">
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<label>Subject (sub) <input id="subject" name="subject" value="alice" required pattern="[A-Za-z0-9._@-]{1,64}"></label>
{{range .Scopes}}<label><input type="checkbox" name="grant" value="{{.Name}}"{{if .Checked}} checked{{end}}> {{.Name}}</label>
{{end}}<button id="sign-in" type="submit">Sign in</button>
</form>
</body>
</html>
`))

type scopeChoice struct {
	Name    string
	Checked bool
}

// authorizeParams are the authorization request's parameters, checked.
type authorizeParams struct {
	clientID, redirectURI, challenge, state string
	scopes                                  []string
}

// parseAuthorize checks an authorization request (RFC 6749, section 4.1.1,
// with PKCE, RFC 7636, required): only response_type code, S256 challenges
// and redirect URIs on loopback hosts.
func (i *Issuer) parseAuthorize(form url.Values) (authorizeParams, string) {
	p := authorizeParams{
		clientID:    form.Get("client_id"),
		redirectURI: form.Get("redirect_uri"),
		challenge:   form.Get("code_challenge"),
		state:       form.Get("state"),
	}
	switch {
	case form.Get("response_type") != "code":
		return p, "only response_type=code is supported (the implicit flow is not)"
	case !clientID.MatchString(p.clientID):
		return p, "client_id must be 1 to 64 letters, digits or ._@-"
	case !loopbackRedirect(p.redirectURI):
		return p, "redirect_uri must be an http(s) URL on a loopback host"
	case form.Get("code_challenge_method") != "S256" || !pkceChallenge.MatchString(p.challenge):
		return p, "PKCE is required: code_challenge with code_challenge_method=S256"
	}
	p.scopes = i.scopes
	if s := form.Get("scope"); s != "" {
		p.scopes = nil
		for _, sc := range strings.Fields(s) {
			if slices.Contains(i.scopes, sc) {
				p.scopes = append(p.scopes, sc)
			}
		}
	}
	return p, ""
}

func loopbackRedirect(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Fragment != "" {
		return false
	}
	host := u.Hostname()
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// serveAuthorize shows the login page (GET) and, once it is sent (POST),
// redirects back with a code.
func (i *Issuer) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	p, problem := i.parseAuthorize(r.Form)
	if problem != "" {
		http.Error(w, problem, http.StatusBadRequest)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodGet {
		hidden := map[string]string{}
		for _, k := range []string{"response_type", "client_id", "redirect_uri", "code_challenge", "code_challenge_method", "state", "scope"} {
			hidden[k] = r.Form.Get(k)
		}
		var choices []scopeChoice
		for _, s := range i.scopes {
			choices = append(choices, scopeChoice{Name: s, Checked: slices.Contains(p.scopes, s)})
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = loginPage.Execute(w, map[string]any{"Action": i.url + AuthorizePath, "Hidden": hidden, "Scopes": choices}) // the browser has gone if this fails
		return
	}
	subject := r.PostForm.Get("subject")
	if !clientID.MatchString(subject) {
		http.Error(w, "subject must be 1 to 64 letters, digits or ._@-", http.StatusBadRequest)
		return
	}
	var granted []string
	for _, s := range r.PostForm["grant"] {
		if slices.Contains(i.scopes, s) {
			granted = append(granted, s)
		}
	}
	code := rand.Text()
	i.mu.Lock()
	for c, g := range i.codes {
		if time.Now().After(g.expires) {
			delete(i.codes, c)
		}
	}
	if len(i.codes) >= maxPendingCodes {
		i.mu.Unlock()
		http.Error(w, "too many sign-ins pending; try again in a minute", http.StatusServiceUnavailable)
		return
	}
	i.codes[code] = grant{clientID: p.clientID, redirectURI: p.redirectURI, challenge: p.challenge,
		subject: subject, scopes: granted, expires: time.Now().Add(codeTTL)}
	i.mu.Unlock()
	back, _ := url.Parse(p.redirectURI) // checked by parseAuthorize
	q := back.Query()
	q.Set("code", code)
	if p.state != "" {
		q.Set("state", p.state)
	}
	q.Set("iss", i.url) // RFC 9207
	back.RawQuery = q.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// redeem exchanges an authorization code once, checking the client, the
// redirect URI and the PKCE verifier.
func (i *Issuer) redeem(form url.Values, clientID string) (grant, bool) {
	i.mu.Lock()
	g, ok := i.codes[form.Get("code")]
	delete(i.codes, form.Get("code"))
	i.mu.Unlock()
	verifier := form.Get("code_verifier")
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	return g, ok && time.Now().Before(g.expires) && g.clientID == clientID &&
		g.redirectURI == form.Get("redirect_uri") && pkceVerifier.MatchString(verifier) &&
		subtle.ConstantTimeCompare([]byte(want), []byte(g.challenge)) == 1
}
