// DPoP proofs made by panva's `dpop` package, for tests/dpop_interop.rs.
//
//   node proof.mjs keygen <ES256|Ed25519|RS256|PS256>
//     prints {"key": <private JWK>, "alg": ..., "jkt": <thumbprint>}
//   node proof.mjs proof <key JSON> <htm> <htu> <access token> [nonce]
//     prints the proof JWT
import { generateKeyPair, generateProof, calculateThumbprint } from 'dpop'

const params = {
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  Ed25519: { name: 'Ed25519' },
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  PS256: { name: 'RSA-PSS', hash: 'SHA-256' },
}

const [command, ...args] = process.argv.slice(2)

if (command === 'keygen') {
  const alg = args[0]
  const pair = await generateKeyPair(alg, { extractable: true })
  const key = await crypto.subtle.exportKey('jwk', pair.privateKey)
  const jkt = await calculateThumbprint(pair.publicKey)
  process.stdout.write(JSON.stringify({ key, alg, jkt }))
} else if (command === 'proof') {
  const [keyJson, htm, htu, accessToken, nonce] = args
  const { key, alg } = JSON.parse(keyJson)
  const privateKey = await crypto.subtle.importKey('jwk', key, params[alg], false, ['sign'])
  const { d, p, q, dp, dq, qi, ...pub } = key
  const publicKey = await crypto.subtle.importKey(
    'jwk', { ...pub, key_ops: ['verify'] }, params[alg], true, ['verify'])
  const proof = await generateProof({ privateKey, publicKey }, htu, htm, nonce || undefined, accessToken)
  process.stdout.write(proof)
} else {
  process.stderr.write('usage: proof.mjs keygen <alg> | proof <key> <htm> <htu> <token> [nonce]\n')
  process.exit(2)
}
