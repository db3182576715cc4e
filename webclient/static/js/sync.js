// Keeps the store in step with the server: the WebSocket sync when it works, /sync long-poll
// when it does not, reconnecting with exponential backoff and reporting when it is offline.

const WS_PATH = "/_matrix/client/unstable/org.homeserver.ws/sync";
const FILTER = JSON.stringify({ room: { timeline: { limit: 30 }, state: { lazy_load_members: false } } });
const MAX_BACKOFF_MS = 30000;
// A socket can die without a close event (a laptop's sleep, a dropped Wi-Fi): a ping that is
// not answered in time closes it, and the backoff takes over.
const PING_EVERY_MS = 30000;
const PING_ANSWER_MS = 10000;

export class Sync {
  constructor(api, store, { onStatus, onLoggedOut }) {
    this.api = api;
    this.store = store;
    this.onStatus = onStatus; // (online: boolean) => void
    this.onLoggedOut = onLoggedOut;
    this.since = null;
    this.failures = 0;
    this.wsFailures = 0;
    this.wsWorked = false;
    this.useWs = typeof WebSocket === "function";
    this.stopped = false;
    this.socket = null;
    this.abort = null;
    this.timer = null;
  }

  start() {
    this.onOnline = () => { if (this.failures) { clearTimeout(this.timer); this.connect(); } };
    this.onOffline = () => this.onStatus(false);
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    if (this.socket) this.socket.close(1000);
    if (this.abort) this.abort.abort();
  }

  connect() {
    if (this.stopped) return;
    if (this.useWs) this.connectWs();
    else this.poll();
  }

  handle(frame) {
    try {
      this.store.applySync(frame);
    } catch (err) {
      console.error("could not apply a sync response", err); // skipped, not retried forever
    }
    this.since = frame.next_batch;
    if (this.failures) this.onStatus(true);
    this.failures = 0;
  }

  retry() {
    if (this.stopped) return;
    this.failures += 1;
    this.onStatus(false);
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(this.failures, 6));
    this.timer = setTimeout(() => this.connect(), delay * (0.75 + Math.random() / 2));
  }

  connectWs() {
    const query = new URLSearchParams({ filter: FILTER });
    if (this.since) query.set("since", this.since);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${WS_PATH}?${query}`);
    let acked = false;
    let pings = 0;
    let deadline = null;
    this.socket = socket;
    const heartbeat = setInterval(() => {
      if (socket.readyState !== WebSocket.OPEN || deadline) return;
      socket.send(JSON.stringify({ type: "ping", id: `ping${++pings}` }));
      deadline = setTimeout(() => socket.close(4000, "no answer to ping"), PING_ANSWER_MS);
    }, PING_EVERY_MS);
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "auth", access_token: this.api.session.access_token, id: "auth" }));
    });
    socket.addEventListener("message", (msg) => {
      let frame;
      try { frame = JSON.parse(msg.data); } catch { return; }
      if (frame.type === "ack" && frame.id === "auth") { acked = true; this.wsWorked = true; }
      else if (frame.type === "ack" && frame.id === `ping${pings}`) { clearTimeout(deadline); deadline = null; }
      else if (frame.type === "sync") this.handle(frame);
      else if (frame.type === "error" && frame.errcode === "M_UNKNOWN_TOKEN") this.loggedOut();
    });
    socket.addEventListener("close", (event) => {
      clearInterval(heartbeat);
      clearTimeout(deadline);
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      if (event.code === 4401 && acked) { this.loggedOut(); return; }
      // Sockets that never got going (a proxy without WebSocket support): use long-poll.
      // Once one has worked, a failure means the network is down, so keep the socket.
      if (!acked && !this.wsWorked && ++this.wsFailures >= 2) this.useWs = false;
      this.retry();
    });
  }

  async poll() {
    while (!this.stopped && !this.useWs) {
      const query = { filter: FILTER, timeout: this.since ? "30000" : "0" };
      if (this.since) query.since = this.since;
      this.abort = new AbortController();
      try {
        this.handle(await this.api.sync(query, this.abort.signal));
      } catch (err) {
        if (this.stopped) return;
        if (err.errcode === "M_UNKNOWN_TOKEN") { this.loggedOut(); return; }
        this.retry();
        return;
      }
    }
  }

  loggedOut() {
    this.stop();
    this.onLoggedOut();
  }
}
