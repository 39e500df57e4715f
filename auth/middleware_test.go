package auth

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestParseBearer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header  string
		want    string
		wantErr error
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", nil},
		{"bearer abc.def.ghi", "abc.def.ghi", nil},
		{"BEARER abc", "abc", nil},
		{"Bearer  abc", "abc", nil},
		{"Bearer", "", ErrInvalidToken},
		{"Bearer ", "", ErrInvalidToken},
		{"Bearer a b", "", ErrInvalidRequest},
		{"Bearer a,b", "", ErrInvalidRequest},
		{"Bearer\tabc", "", ErrNoToken},
		{"Basic Zm9vOmJhcg==", "", ErrNoToken},
		{"Token abc", "", ErrNoToken},
		{"JWT abc", "", ErrNoToken},
		{"abc.def.ghi", "", ErrNoToken},
		{"", "", ErrNoToken},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			got, err := parseBearer(tt.header)
			if got != tt.want || !errors.Is(err, tt.wantErr) && !(err == nil && tt.wantErr == nil) {
				t.Errorf("parseBearer(%q) = %q, %v; want %q, %v", tt.header, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestBearerTokenRefusesAmbiguity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     string
		headers []string
		wantErr error
	}{
		{"none", "/orders", nil, ErrNoToken},
		{"query token only is ignored", "/orders?access_token=x.y.z", nil, ErrNoToken},
		{"two headers", "/orders", []string{"Bearer a.b.c", "Bearer d.e.f"}, ErrInvalidRequest},
		{"header and query token", "/orders?access_token=d.e.f", []string{"Bearer a.b.c"}, ErrInvalidRequest},
		{"one header", "/orders", []string{"Bearer a.b.c"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.NewRequest(http.MethodGet, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			_, _, err = credentials(r)
			if !errors.Is(err, tt.wantErr) && !(err == nil && tt.wantErr == nil) {
				t.Errorf("credentials = %v; want %v", err, tt.wantErr)
			}
		})
	}
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"", "Bearer", "Bearer a.b.c", "bearer  x y", "Basic Zm9vOmJhcg==", "Bearer \x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, err := parseBearer(header)
		if err == nil && (tok == "" || strings.ContainsAny(tok, " \t\r\n,")) {
			t.Fatalf("parseBearer(%q) = %q, nil; want an error", header, tok)
		}
		if err != nil && tok != "" {
			t.Fatalf("parseBearer(%q) returned %q with error %v", header, tok, err)
		}
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("parseBearer(%q) error %v is not an *Error", header, err)
		}
	})
}

func FuzzClaims(f *testing.F) {
	for _, s := range []string{`{"sub":"a","exp":1}`, `{"sub":"a","sub":"b"}`, `{"aud":["x"],"scp":"a b"}`, `{"nbf":1e19}`, `[]`, `{"exp":"1"}`} {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"aud":["a\u00e9"],"x":-0.5e1,"s":"\ud83d\ude00"}`))
	f.Add([]byte(`{"aud":["a",null]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c claims
		if err := c.UnmarshalJSON(b); err != nil {
			return
		}
		for _, d := range []*jwt.NumericDate{c.expiresAt, c.notBefore, c.issuedAt} {
			if d != nil && (d.Unix() < 0 || d.Unix() > maxNumericDate) {
				t.Fatalf("decoded date %v from %q; want one between 1970 and 9999", d, b)
			}
		}
		for name, v := range c.members {
			checkDecoders(t, name, v)
		}
	})
}

// checkDecoders checks the claim value decoders against encoding/json: a
// string and a number read the same both ways, and an array of strings the
// same whenever decodeStrings reads it (it also refuses null in an array,
// which encoding/json reads as "").
func checkDecoders(t *testing.T, name string, v json.RawMessage) {
	var s, want string
	if err, wantErr := decodeString(v, &s), json.Unmarshal(v, &want); (err == nil) != (wantErr == nil && v[0] == '"') || s != want {
		t.Errorf("claim %s = %s: decodeString %q, %v; encoding/json %q, %v", name, v, s, err, want, wantErr)
	}
	if ss, err := decodeStrings(v); err == nil && v[0] == '[' {
		var want []string
		if err := json.Unmarshal(v, &want); err != nil || !slices.Equal(ss, want) {
			t.Errorf("claim %s = %s: decodeStrings %q; encoding/json %q, %v", name, v, ss, want, err)
		}
	}
	var f float64
	wantErr := json.Unmarshal(v, &f)
	d, err := decodeNumericDate(v)
	sec, frac := math.Modf(f)
	switch inRange := wantErr == nil && f >= 0 && f <= maxNumericDate; {
	case inRange && (err != nil || !d.Equal(jwt.NewNumericDate(time.Unix(int64(sec), int64(frac*1e9))).Time)):
		t.Errorf("claim %s = %s: decodeNumericDate %v, %v; encoding/json %v", name, v, d, err, f)
	case !inRange && err == nil:
		t.Errorf("claim %s = %s: decodeNumericDate %v; encoding/json %v, %v", name, v, d, f, wantErr)
	}
}
