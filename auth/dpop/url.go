package dpop

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// NormalizeURL returns raw as a proof's htu is compared (RFC 9449, section
// 4.3, with RFC 3986's syntax-based normalisation of scheme and host):
// scheme and host in lower case, the scheme's default port dropped, the
// path as sent ("/" when empty), query and fragment left out. Only absolute
// http and https URLs are accepted.
func NormalizeURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Host == "" || u.User != nil {
		return "", errors.New("not an absolute http or https URL without user information")
	}
	host := strings.ToLower(u.Host)
	if h, port, err := net.SplitHostPort(host); err == nil && (scheme == "http" && port == "80" || scheme == "https" && port == "443") {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, nil
}
