// Encrypts a signed token with panva's jose package to the API's public
// keys, once for every key management and content encryption algorithm
// asked for, as a nested JWT (with cty JWT when the case asks for it, as
// RFC 7519 does; Auth0 leaves it out), and calls GET /orders with each.
// Reads {"token", "keys": {"RSA": JWK, "EC": JWK}, "cases": [{alg, enc, cty}]}
// from standard input, so that no token is on a command line; prints one
// JSON line per case; never prints a token.
//
// usage: node interop.mjs API_BASE < input.json
import { CompactEncrypt, importJWK } from 'jose'

const [base] = process.argv.slice(2)
let input = ''
for await (const chunk of process.stdin) input += chunk
const { token, keys, cases } = JSON.parse(input)

for (const { alg, enc, cty } of cases) {
  const jwk = alg.startsWith('ECDH') ? keys.EC : keys.RSA
  const key = await importJWK(jwk, alg)
  const header = { alg, enc }
  if (cty) header.cty = 'JWT'
  if (jwk.kid) header.kid = jwk.kid
  const jwe = await new CompactEncrypt(new TextEncoder().encode(token)).setProtectedHeader(header).encrypt(key)
  const resp = await fetch(`${base}/orders`, { headers: { Authorization: `Bearer ${jwe}` } })
  console.log(JSON.stringify({ alg, enc, cty, segments: jwe.split('.').length, status: resp.status }))
}
