// IndexedDB: the enrolment (device, node, CATD catalog keys, the key pair) and the queue of
// photos, which survives closing the page and losing coverage.
const NAME = "catd-casilla";

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(NAME, 1);
    req.onupgradeneeded = () => {
      req.result.createObjectStore("config");
      req.result.createObjectStore("queue", { keyPath: "id", autoIncrement: true });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run(store, mode, fn) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, mode);
    const req = fn(tx.objectStore(store));
    tx.oncomplete = () => { db.close(); resolve(req ? req.result : undefined); };
    tx.onerror = () => { db.close(); reject(tx.error); };
  });
}

export const getConfig = () => run("config", "readonly", (s) => s.get("device"));
export const setConfig = (value) => run("config", "readwrite", (s) => s.put(value, "device"));
export const allItems = () => run("queue", "readonly", (s) => s.getAll());
export const putItem = (item) => run("queue", "readwrite", (s) => s.put(item));
