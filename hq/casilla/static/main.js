// PREP Casilla phone page: enrolment from the coordinator's QR, then per acta: key (typed,
// checked against the CATD's catalog, or read from the acta's QR), photo, reduce, hash, sign,
// queue; the queue is sent whenever the network is there.
import { makeKey, publicB64, sha256Hex, signStatement } from "./keys.js";
import { getConfig, setConfig } from "./store.js";
import { reduce, readKey } from "./camera.js";
import { add, items, save, LABELS } from "./queue.js";
import { send } from "./upload.js";

const $ = (id) => document.getElementById(id);
let config = null;
let flushing = false;

function showNetwork() {
  $("red").textContent = navigator.onLine ? "Con conexión" : "Sin conexión: las fotos esperan en el teléfono";
}

async function enrol(payload) {
  $("alta").hidden = false;
  const alta = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/")));
  const pair = await makeKey();
  const res = await fetch(`${alta.nodo}/casilla/alta`, {
    method: "POST", body: JSON.stringify({ code: alta.code, pubkey: await publicB64(pair) }),
  });
  const answer = await res.json();
  if (!res.ok) {
    $("alta-estado").textContent = `No se pudo dar de alta: ${answer.detail}`;
    return null;
  }
  const value = { node: answer.node, device: answer.device, actas: answer.actas, key: pair };
  await setConfig(value);
  history.replaceState(null, "", location.pathname);
  $("alta-estado").textContent = `Teléfono ${answer.device} dado de alta en ${answer.node}.`;
  return value;
}

async function render() {
  const list = $("cola");
  list.replaceChildren();
  for (const item of await items()) {
    const li = document.createElement("li");
    li.className = item.status;
    li.dataset.acta = item.acta;
    const state = document.createElement("span");
    state.className = "estado";
    state.textContent = LABELS[item.status];
    li.append(state, ` ${item.acta}`);
    if (item.status === "enviado") li.append(` (${Math.round(100 * item.sent / item.bytes)} %)`);
    if (item.receipt) {
      const code = document.createElement("code");
      code.className = "codigo";
      code.textContent = item.receipt.codigo_integridad.toUpperCase();
      const when = document.createElement("small");
      when.textContent = ` recibido por HQ ${item.receipt.received_at}`;
      li.append(document.createElement("br"), "Código de integridad: ", code, when);
      if (item.receipt.flag) li.append(` — observación de HQ: ${item.receipt.flag}`);
    }
    if (item.error) li.append(` — ${item.error}`);
    list.append(li);
  }
}

async function flush() {
  if (flushing || !navigator.onLine) return;
  flushing = true;
  try {
    for (const item of await items()) {
      if (item.status === "recibido") continue;
      try {
        item.receipt = await send(item, async (held) => {
          item.status = "enviado";
          item.sent = held;
          await save(item);
          await render();
        });
        item.status = "recibido";
        item.error = null;
      } catch (err) {
        item.error = String(err.message || err);
      }
      await save(item);
      await render();
    }
  } finally {
    flushing = false;
  }
}

async function onPhoto() {
  $("error").textContent = "";
  const file = $("foto").files[0];
  if (!file) return;
  let acta = $("clave").value.trim().toUpperCase();
  if (!acta) acta = (await readKey(file).catch(() => null)) || "";
  if (!config.actas.includes(acta)) {
    $("error").textContent = acta ? `La clave ${acta} no es de un acta de este CATD.` : "Escriba la clave del acta.";
    $("foto").value = "";
    return;
  }
  const blob = await reduce(file);
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const fields = { acta, bytes: bytes.length, device: config.device, node: config.node,
    sha256: await sha256Hex(bytes), taken_at: new Date().toISOString() };
  const signed = await signStatement(config.key, fields);
  await add({ ...fields, ...signed, blob });
  $("forma").reset();
  await render();
  flush();
}

async function start() {
  showNetwork();
  window.addEventListener("online", () => { showNetwork(); flush(); });
  window.addEventListener("offline", showNetwork);
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});
  config = await getConfig();
  const alta = new URLSearchParams(location.hash.slice(1)).get("alta");
  if (alta && !config) config = await enrol(alta);
  if (!config) { $("sin-alta").hidden = !!alta; return; }
  $("captura").hidden = false;
  $("dispositivo").textContent = `Teléfono ${config.device} · ${config.node}`;
  $("claves").replaceChildren(...config.actas.map((k) => Object.assign(document.createElement("option"), { value: k })));
  $("leer-qr").hidden = !("BarcodeDetector" in window);
  $("foto").addEventListener("change", () => onPhoto().catch((e) => { $("error").textContent = String(e); }));
  await render();
  flush();
  document.body.dataset.listo = "1";
}

start();
