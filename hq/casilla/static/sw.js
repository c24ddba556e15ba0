// The phone page works offline once loaded: its files are cached at install, served from the
// cache first; uploads (/v1/…) always go to the network.
const CACHE = "catd-casilla-v2";  // a new name when a file changes: old caches are dropped
const FILES = ["./", "index.html", "style.css", "manifest.json", "icon.svg", "main.js", "keys.js",
  "store.js", "camera.js", "queue.js", "upload.js"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
    .then(() => self.clients.claim()));
});
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin ||
      !url.pathname.startsWith("/casilla/")) {
    return;
  }
  event.respondWith(caches.match(event.request, { ignoreSearch: true })
    .then((hit) => hit || fetch(event.request)));
});
