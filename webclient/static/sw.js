// The service worker: keeps the app shell (page, scripts, styles, icons) for offline starts.
// Network first, so a deployed update shows at once; never touches the Matrix API.

const CACHE = "app-shell-v4";
const SHELL = [
  "/", "/static/app.css", "/static/icon.svg", "/manifest.webmanifest",
  "/static/icon-maskable.svg", "/static/js/main.js", "/static/js/api.js", "/static/js/dom.js",
  "/static/js/markdown.js", "/static/js/media.js", "/static/js/notify.js", "/static/js/room.js", "/static/js/sanitize.js", "/static/js/store.js",
  "/static/js/sync.js", "/static/js/views/actions.js", "/static/js/views/app.js", "/static/js/views/avatar.js",
  "/static/js/views/composer.js", "/static/js/views/eventbody.js", "/static/js/views/dialogs.js", "/static/js/views/login.js",
  "/static/js/views/roomlist.js", "/static/js/views/roompanels.js", "/static/js/views/roomview.js", "/static/js/views/thread.js",
  "/static/js/views/timeline.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  const shell = url.origin === location.origin && event.request.method === "GET"
    && (url.pathname === "/" || url.pathname.startsWith("/static/") || url.pathname === "/manifest.webmanifest");
  if (!shell) return;
  event.respondWith(fetch(event.request).then((resp) => {
    if (resp.ok) {
      const copy = resp.clone();
      caches.open(CACHE).then((cache) => cache.put(event.request, copy));
    }
    return resp;
  }).catch(() => caches.match(event.request, { ignoreSearch: true })));
});
