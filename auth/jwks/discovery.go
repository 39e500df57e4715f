package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// Metadata is what the API reads of an issuer's OpenID configuration.
type Metadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	// IntrospectionEndpoint is where the issuer answers RFC 7662
	// introspection requests, "" when it names none.
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// discover reads the issuer's OpenID configuration and returns its jwks_uri,
// after checking that the document speaks for our issuer; it keeps the
// document for Metadata.
func (s *Source) discover(ctx context.Context) (string, error) {
	u := strings.TrimSuffix(s.issuer, "/") + "/.well-known/openid-configuration"
	body, err := s.client.get(ctx, u)
	if err != nil {
		return "", fmt.Errorf("openid discovery: %w", err)
	}
	var doc Metadata
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("openid discovery: decode %s: %w", u, err)
	}
	if doc.Issuer != s.issuer {
		return "", fmt.Errorf("openid discovery at %s names issuer %q, not %q", u, doc.Issuer, s.issuer)
	}
	if err := CheckURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("openid discovery at %s: jwks_uri: %w", u, err)
	}
	s.mu.Lock()
	s.meta = &doc
	s.mu.Unlock()
	return doc.JWKSURI, nil
}

// metadataRetry is how long a failed discovery is not tried again on behalf
// of a caller of Metadata, so anonymous requests cannot drive the issuer.
const metadataRetry = 30 * time.Second

// Metadata returns the issuer's discovery document, reading it if no fetch
// has yet (as when the JWKS URL is configured): once for all concurrent
// callers, and not again for metadataRetry after a failure.
func (s *Source) Metadata(ctx context.Context) (Metadata, error) {
	s.mu.RLock()
	meta, failed := s.meta, s.metaFailed
	s.mu.RUnlock()
	if meta != nil {
		return *meta, nil
	}
	if time.Since(failed) < metadataRetry {
		return Metadata{}, errors.New("openid discovery failed recently")
	}
	_, err, _ := s.flight.Do("metadata", func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		_, err := s.discover(fctx)
		if err != nil {
			s.mu.Lock()
			s.metaFailed = time.Now()
			s.mu.Unlock()
		}
		return nil, err
	})
	if err != nil {
		return Metadata{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return *s.meta, nil
}

// fetchClient fetches the issuer's documents: bounded in time and size, and
// following redirects only within the same origin, so an issuer cannot send
// us to fetch keys from somewhere else.
type fetchClient struct{ http *http.Client }

func newFetchClient() *fetchClient {
	return &fetchClient{http: &http.Client{
		Timeout: fetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			if req.URL.Scheme != via[0].URL.Scheme || req.URL.Host != via[0].URL.Host {
				return errors.New("redirect to another origin")
			}
			return nil
		},
	}}
}

// get fetches u, which must answer 200, and returns at most
// maxDocumentBytes of its body.
func (fc *fetchClient) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := fc.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", u, err)
	}
	if len(body) > maxDocumentBytes {
		return nil, fmt.Errorf("%s sent more than %d bytes", u, maxDocumentBytes)
	}
	return body, nil
}

// CheckURL accepts an https URL, or an http URL whose host is loopback: keys
// and discovery must never travel in the clear over a network.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || strings.ContainsFunc(raw, unicode.IsSpace) {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q uses plain http to a host that is not loopback; use https", raw)
	}
	return fmt.Errorf("%q must use https", raw)
}

// IsLoopback reports whether host is localhost or a loopback IP address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
