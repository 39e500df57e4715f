package api

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/coffeemesh/orders/models"
)

// errPreconditionRequired means a change came without If-Match while
// Config.RequireIfMatch is set.
var errPreconditionRequired = errors.New("this change needs an If-Match header with the order's ETag, from a GET of the order")

// etag is the strong entity-tag of o's representation (RFC 9110, 8.8.3): its
// version, which every change of the order counts up, so that two states of
// one order never share a tag.
func etag(o models.Order) string {
	return `"` + strconv.FormatInt(int64(o.Version), 10) + `"`
}

// entityTags reads the entity-tags of the header name, a comma-separated
// list (RFC 9110, 8.8.3 and 13.1.1), each as it was sent, weak prefix and
// quotes and all; "*" is returned as itself.
func entityTags(h http.Header, name string) []string {
	var tags []string
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	}
	return tags
}

// strongVersion returns the version that tag names, if it is a strong tag
// this API made. A weak tag never matches in If-Match (RFC 9110, 13.1.1
// uses the strong comparison), nor does anything this API never sends.
func strongVersion(tag string) (models.Version, bool) {
	inner, ok := strings.CutPrefix(tag, `"`)
	if !ok {
		return 0, false
	}
	inner, ok = strings.CutSuffix(inner, `"`)
	if !ok || inner == "" || inner[0] == '0' || inner[0] == '+' {
		return 0, false
	}
	n, err := strconv.ParseInt(inner, 10, 64)
	if err != nil || n < 1 {
		return 0, false
	}
	return models.Version(n), true
}

// ifMatch returns the version of owner's order id that the request's
// If-Match requires of a change (RFC 9110, 13.1.1): models.AnyVersion
// without the header (or errPreconditionRequired, 428, when require is
// set) or with "*", which any existing order matches. A list of several
// tags is matched against the order as read, and the change then requires
// the version read, so that it still fails if the order changes between.
// It returns models.ErrStale when no tag can match.
func ifMatch(c *gin.Context, require bool, store OrderStore, who models.OwnerID, id models.OrderID) (models.Version, error) {
	tags := entityTags(c.Request.Header, "If-Match")
	if len(tags) == 0 {
		if require {
			return 0, errPreconditionRequired
		}
		return models.AnyVersion, nil
	}
	if slices.Contains(tags, "*") {
		return models.AnyVersion, nil
	}
	var versions []models.Version
	for _, t := range tags {
		if v, ok := strongVersion(t); ok && !slices.Contains(versions, v) {
			versions = append(versions, v)
		}
	}
	switch len(versions) {
	case 0:
		return 0, models.ErrStale
	case 1:
		return versions[0], nil
	}
	o, err := store.Get(c.Request.Context(), who, id)
	if err != nil {
		return 0, err
	}
	if !slices.Contains(versions, o.Version) {
		return 0, models.ErrStale
	}
	return o.Version, nil
}

// noneMatch reports whether the request's If-None-Match names o's current
// representation, by the weak comparison that RFC 9110, 13.1.2 asks for, so
// that a GET can be answered 304 Not Modified.
func noneMatch(c *gin.Context, o models.Order) bool {
	want := etag(o)
	for _, t := range entityTags(c.Request.Header, "If-None-Match") {
		if t == "*" || strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}
