// Resumable upload to HQ: HEAD says how many bytes HQ holds, then 256 KiB PUTs (a reduced photo
// goes in one; HQ keeps what arrived of a PUT the link cut), each with the
// signed statement (docs/casilla.md). A refusal is kept on the item, named.
export const CHUNK = 256 * 1024;

export async function send(item, onProgress) {
  const path = `/v1/casilla/photos/${item.sha256}`;
  const signed = { "Casilla-Statement": item.statement, "Casilla-Signature": item.sig };
  let held = 0;
  const head = await fetch(path, { method: "HEAD", headers: signed, cache: "no-store" });
  if (head.status === 200 || head.status === 404) held = Number(head.headers.get("Upload-Offset") || 0);
  const bytes = new Uint8Array(await item.blob.arrayBuffer());
  if (held > bytes.length) held = 0;
  for (;;) {
    const piece = bytes.subarray(held, held + CHUNK);
    const res = await fetch(path, {
      method: "PUT", body: piece, cache: "no-store",
      headers: { ...signed, "Upload-Offset": String(held), "Upload-Length": String(bytes.length),
        "Content-Type": "application/octet-stream" },
    });
    const answer = await res.json();
    if (res.status === 202) {
      held = answer.offset;
      await onProgress(held);
      continue;
    }
    if (res.status === 200 || res.status === 201) return answer.receipt;
    if (res.status === 409 && answer.error === "offset_mismatch") { held = answer.offset; continue; }
    throw new Error(`${answer.error}: ${answer.detail}`);
  }
}
