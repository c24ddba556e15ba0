// Queue items: Pendiente (signed, kept here) → Enviado (HQ holds part of it) → Recibido (HQ's
// signed receipt, with the código de integridad, the photo's SHA-256).
import { allItems, putItem } from "./store.js";

export const LABELS = { pendiente: "Pendiente", enviado: "Enviado", recibido: "Recibido" };

export async function add(fields) {
  await putItem({ ...fields, status: "pendiente", sent: 0, receipt: null });
}

export async function items() {
  return (await allItems()).sort((a, b) => a.id - b.id);
}

export const save = putItem;
