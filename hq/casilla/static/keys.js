// The device key: Ed25519 made in the browser, not extractable (the private key never leaves
// WebCrypto; IndexedDB keeps the CryptoKey object itself).
export async function makeKey() {
  return crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
}

export function b64(bytes) {
  let text = "";
  const view = new Uint8Array(bytes);
  for (let i = 0; i < view.length; i += 0x8000) {
    text += String.fromCharCode(...view.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

export async function publicB64(pair) {
  return b64(await crypto.subtle.exportKey("raw", pair.publicKey));
}

export async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

// The statement in canonical JSON (sorted keys, no spaces) and its signature over
// "catd/casilla-statement/v1\n" + statement (sync/casilla_protocol.py).
export async function signStatement(pair, fields) {
  const order = ["acta", "bytes", "device", "node", "sha256", "taken_at"];
  const text = "{" + order.map((k) => JSON.stringify(k) + ":" + JSON.stringify(fields[k])).join(",") + "}";
  const statement = new TextEncoder().encode(text);
  const tag = new TextEncoder().encode("catd/casilla-statement/v1\n");
  const message = new Uint8Array(tag.length + statement.length);
  message.set(tag);
  message.set(statement, tag.length);
  const sig = await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, message);
  return { statement: b64(statement), sig: b64(sig) };
}
