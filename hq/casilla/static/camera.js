// Reduce the photo on the phone to the node's target: at most MAX_SIDE pixels on the long
// side, grey-friendly WebP (JPEG where WebP encoding is missing), lowering quality until it
// fits TARGET_BYTES. The acta stays legible at ~1200 px (docs/casilla.md, benchmarks).
export const MAX_SIDE = 1400;
export const TARGET_BYTES = 150 * 1024;

function encode(canvas, type, quality) {
  return new Promise((resolve) => canvas.toBlob(resolve, type, quality));
}

export async function reduce(file) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  let type = "image/webp";
  let blob = null;
  for (const quality of [0.8, 0.7, 0.6, 0.5, 0.4, 0.3]) {
    blob = await encode(canvas, type, quality);
    if (blob.type !== type) { type = "image/jpeg"; blob = await encode(canvas, type, quality); }
    if (blob.size <= TARGET_BYTES) break;
  }
  return blob;
}

// The acta's QR (its CLAVE_ACTA), where the browser can read barcodes.
export async function readKey(file) {
  if (!("BarcodeDetector" in window)) return null;
  const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
  const found = await detector.detect(await createImageBitmap(file));
  return found.length ? found[0].rawValue.trim() : null;
}
