package dpop_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth/dpop"
	"github.com/coffeemesh/orders/auth/dpop/dpoptest"
)

// BenchmarkCheckUse measures what a server pays for one DPoP proof, per
// algorithm: Check (parse, the jwk and its thumbprint, the signature, the
// claims) and the in-memory replay store's Use. A proof cannot be cached,
// so every request pays this. Signing one proof per iteration would
// measure the client, so one proof is checked again and again, and Use
// records a fresh jti each time, as it would for a fresh proof.
func BenchmarkCheckUse(b *testing.B) {
	const url, token = "https://api.example.com/orders/1", "a.b.c"
	now := time.Now()
	store := dpop.NewMemoryStore(1<<22, nil)
	v, err := dpop.New(dpop.Options{Now: func() time.Time { return now }, Replay: store})
	if err != nil {
		b.Fatal(err)
	}
	r := dpop.Request{Method: "GET", URL: url, AccessToken: token}
	i := 0 // numbers the jtis across runs, as -count runs them again
	for _, alg := range dpop.DefaultAlgorithms() {
		proof := dpoptest.NewClient(b, alg).Proof(b, "GET", url, token)
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := v.Check(proof, r)
				if err != nil {
					b.Fatal(err)
				}
				p.ID = alg + strconv.Itoa(i)
				i++
				if err := v.Use(b.Context(), p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
