// Verifies an entitled entitlement token offline, the way a Node service would, written from
// entitled's contract and the IETF OAuth Token Status List draft alone:
//
//   ENTITLED_URL=https://entitled.example.com AUDIENCE=downloads node verify.js <token>
//
// 1. the token's signature against entitled's JWKS (EdDSA only), its typ (ent+jwt), iss, aud,
//    exp and nbf, with jose;
// 2. when it carries a status ({"status": {"status_list": {"idx", "uri"}}}), the status list at
//    uri: a JWT (typ statuslist+jwt) signed by a key of the same JWKS, whose sub is that uri,
//    whose status_list.lst is base64url of ZLIB-compressed bits; node:zlib inflates it, and
//    index i is bit i % 8 (least significant first) of byte i / 8 — 1 means revoked.
//
// It prints one JSON line: {"valid": true, "claims": {...}} and exits 0, or
// {"valid": false, "reason": "revoked" | "invalid_token" | "unavailable", "detail"} and exits 1. A long-running service keeps the JWKS (jose
// caches it) and each list for its ttl, at most until its exp: see statusList below.
import { inflateSync } from "node:zlib";
import { createRemoteJWKSet, jwtVerify } from "jose";

const issuer = (process.env.ENTITLED_URL || "").replace(/\/+$/, "");
const audience = process.env.AUDIENCE;
const token = process.argv[2];
if (!issuer || !audience || !token) {
  console.error("usage: ENTITLED_URL=https://entitled.example.com AUDIENCE=<this service> node verify.js <token>");
  process.exit(2);
}

const jwks = createRemoteJWKSet(new URL(issuer + "/.well-known/jwks.json"));

// Lists are fetched only from entitled's own list path: a token is signed, but a verifier that
// followed any URL a token names could be sent to internal addresses.
const listBase = issuer + "/v1/status-lists/";
const listId = /^[A-Za-z0-9_-]{1,64}$/;

// 2^24 indexes at most: a small answer must not inflate to gigabytes.
const maxListBytes = 1 << 21;

// Refusal is a refusal with entitled's reason (jose's own errors are invalid_token).
class Refusal extends Error {
  constructor(reason, message) {
    super(message);
    this.reason = reason;
  }
}

// The lists held, by uri: {bits, freshUntil (ms)}.
const lists = new Map();

// statusList returns the bits of the list at uri, fetching it when the one held is older than
// its ttl (and never keeping one past its exp).
async function statusList(uri) {
  const held = lists.get(uri);
  if (held && Date.now() < held.freshUntil) {
    return held.bits;
  }
  const res = await fetch(uri, { headers: { accept: "application/statuslist+jwt" } });
  if (!res.ok) {
    throw new Error(`status list ${uri}: ${res.status}`);
  }
  const { payload } = await jwtVerify((await res.text()).trim(), jwks, {
    typ: "statuslist+jwt",
    algorithms: ["EdDSA"],
    subject: uri,
    requiredClaims: ["iat", "exp"],
    clockTolerance: 60,
  });
  const sl = payload.status_list;
  if (!sl || sl.bits !== 1 || typeof sl.lst !== "string") {
    throw new Error("status list: not a one-bit list");
  }
  const bits = inflateSync(Buffer.from(sl.lst, "base64url"), { maxOutputLength: maxListBytes });
  const ttl = Number.isInteger(payload.ttl) && payload.ttl > 0 ? payload.ttl : 300;
  lists.set(uri, { bits, freshUntil: Math.min(Date.now() + ttl * 1000, payload.exp * 1000) });
  return bits;
}

// revoked reads index idx of the list at uri; an index outside the list is refused.
async function revoked(ref) {
  const { idx, uri } = ref;
  if (typeof uri !== "string" || !uri.startsWith(listBase) || !listId.test(uri.slice(listBase.length))) {
    throw new Refusal("invalid_token", "the token's status list is not one of the issuer's");
  }
  let bits;
  try {
    bits = await statusList(uri);
  } catch (err) {
    // No valid list: the token cannot be vouched for now (entitled unreachable, or an answer
    // that is not a valid list). This example refuses; see the README for the other policy.
    throw new Refusal("unavailable", `no valid status list: ${err.code ? err.code + ": " : ""}${err.message}`);
  }
  if (!Number.isSafeInteger(idx) || idx < 0 || Math.floor(idx / 8) >= bits.length) {
    throw new Refusal("invalid_token", "the token's status index is outside its list");
  }
  return ((bits[Math.floor(idx / 8)] >> idx % 8) & 1) === 1;
}

function answer(result) {
  console.log(JSON.stringify(result));
  process.exit(result.valid ? 0 : 1);
}

try {
  const { payload } = await jwtVerify(token, jwks, {
    typ: "ent+jwt",
    algorithms: ["EdDSA"],
    issuer,
    audience,
    requiredClaims: ["exp"],
    clockTolerance: 60,
  });
  const ref = payload.status && payload.status.status_list;
  if (ref && (await revoked(ref))) {
    answer({ valid: false, reason: "revoked" });
  }
  answer({ valid: true, claims: payload });
} catch (err) {
  const detail = err.code ? `${err.code}: ${err.message}` : String(err.message || err);
  answer({ valid: false, reason: err instanceof Refusal ? err.reason : "invalid_token", detail });
}
