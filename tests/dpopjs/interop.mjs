// Makes DPoP proofs with panva's dpop package for every algorithm given:
// gets a bound token from the dev issuer's token endpoint with one proof,
// then calls GET /orders with another, then replays it, answering a
// use_dpop_nonce challenge once with the DPoP-Nonce it names. Prints one
// JSON line per algorithm; never prints a token or a proof.
//
// usage: node interop.mjs API_BASE TOKEN_URL ALG...
import { generateKeyPair, generateProof, calculateThumbprint } from 'dpop'

const [base, tokenURL, ...algs] = process.argv.slice(2)

// call sends a request with a fresh proof by keypair, retrying once with
// the server's nonce when it asks for one.
async function call(keypair, url, method, init, token) {
  let nonce
  for (let attempt = 0; ; attempt++) {
    const headers = { ...init.headers, DPoP: await generateProof(keypair, url, method, nonce, token) }
    const resp = await fetch(url, { ...init, method, headers })
    const challenge = resp.headers.get('www-authenticate') ?? ''
    if (attempt === 0 && resp.status === 401 && challenge.includes('use_dpop_nonce')) {
      nonce = resp.headers.get('dpop-nonce')
      continue
    }
    return { resp, headers, nonced: nonce !== undefined }
  }
}

for (const alg of algs) {
  const keypair = await generateKeyPair(alg)
  const jkt = await calculateThumbprint(keypair.publicKey)
  const form = { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=alice' }
  const { resp: tokenResp } = await call(keypair, tokenURL, 'POST', form)
  const issued = await tokenResp.json()
  const token = issued.access_token
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url'))
  const auth = { headers: { Authorization: `DPoP ${token}` } }
  const { resp: first, headers, nonced } = await call(keypair, `${base}/orders`, 'GET', auth, token)
  const replay = await fetch(`${base}/orders`, { headers })
  console.log(JSON.stringify({
    alg,
    token_type: issued.token_type,
    bound_to_key: claims.cnf?.jkt === jkt,
    nonce_asked: nonced,
    first: first.status,
    replay: replay.status,
  }))
}
