// The Client-Server API over fetch: JSON in and out, Matrix errors as MatrixError.

export class MatrixError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.errcode = body && body.errcode ? body.errcode : "M_UNKNOWN";
    this.body = body || {};
  }
}

const V3 = "/_matrix/client/v3";
const enc = encodeURIComponent;

export class Api {
  constructor(session = null) {
    this.session = session; // {access_token, user_id, device_id}
    this.onUnknownToken = null;
    this.txnCounter = 0;
  }

  async request(method, path, body = undefined, { query = null, signal = null } = {}) {
    let url = path.startsWith("/_matrix") ? path : V3 + path;
    if (query) url += "?" + new URLSearchParams(query).toString();
    const headers = {};
    if (this.session) headers.Authorization = `Bearer ${this.session.access_token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(url, {
      method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await resp.json(); } catch { data = null; }
    if (!resp.ok) {
      const err = new MatrixError(resp.status, data);
      if (err.errcode === "M_UNKNOWN_TOKEN" && this.session && this.onUnknownToken) this.onUnknownToken();
      throw err;
    }
    return data;
  }

  get(path, query) { return this.request("GET", path, undefined, { query }); }
  post(path, body = {}, opts) { return this.request("POST", path, body, opts); }
  put(path, body = {}) { return this.request("PUT", path, body); }

  txnId() { return `w${Date.now()}.${++this.txnCounter}`; }

  // Registration through user-interactive auth: dummy, or a registration token when required.
  async register(username, password, token) {
    const body = { username, password, initial_device_display_name: "Web client" };
    let session;
    try {
      return await this.post("/register", body);
    } catch (err) {
      if (err.status !== 401 || !err.body.flows) throw err;
      session = err.body.session;
      const stages = err.body.flows.map((f) => f.stages);
      const dummy = stages.find((s) => s.length === 1 && s[0] === "m.login.dummy");
      if (dummy) return this.post("/register", { ...body, auth: { type: "m.login.dummy", session } });
      if (!token) throw new MatrixError(401, { errcode: "M_FORBIDDEN", error: "This server needs a registration token." });
    }
    const auth = { type: "m.login.registration_token", token, session };
    try {
      return await this.post("/register", { ...body, auth });
    } catch (err) {
      // A token stage done but a dummy stage still pending.
      if (err.status === 401 && err.body.completed && err.body.completed.length) {
        return this.post("/register", { ...body, auth: { type: "m.login.dummy", session } });
      }
      throw err;
    }
  }

  login(username, password) {
    return this.post("/login", {
      type: "m.login.password", identifier: { type: "m.id.user", user: username }, password,
      initial_device_display_name: "Web client",
    });
  }

  logout() { return this.post("/logout"); }

  sync(query, signal) { return this.request("GET", "/sync", undefined, { query, signal }); }

  send(roomId, type, content, txnId = this.txnId()) {
    return this.put(`/rooms/${enc(roomId)}/send/${enc(type)}/${enc(txnId)}`, content);
  }

  redact(roomId, eventId) {
    return this.put(`/rooms/${enc(roomId)}/redact/${enc(eventId)}/${enc(this.txnId())}`, {});
  }

  setState(roomId, type, content, stateKey = "") {
    return this.put(`/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`, content);
  }

  messages(roomId, from, limit = 30) {
    const query = { dir: "b", limit: String(limit) };
    if (from) query.from = from;
    return this.get(`/rooms/${enc(roomId)}/messages`, query);
  }

  typing(roomId, typing) {
    const body = typing ? { typing: true, timeout: 20000 } : { typing: false };
    return this.put(`/rooms/${enc(roomId)}/typing/${enc(this.session.user_id)}`, body);
  }

  receipt(roomId, eventId) {
    return this.post(`/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, {});
  }

  createRoom(body) { return this.post("/createRoom", body); }
  join(roomIdOrAlias) { return this.post(`/join/${enc(roomIdOrAlias)}`, {}); }
  leave(roomId) { return this.post(`/rooms/${enc(roomId)}/leave`, {}); }
  publicRooms(term) {
    const body = { limit: 50 };
    if (term) body.filter = { generic_search_term: term };
    return this.post("/publicRooms", body);
  }
  searchUsers(term) { return this.post("/user_directory/search", { search_term: term, limit: 20 }); }
  setDisplayName(name) {
    return this.put(`/profile/${enc(this.session.user_id)}/displayname`, { displayname: name });
  }
  profile(userId) { return this.get(`/profile/${enc(userId)}`); }
  setAccountData(type, content) {
    return this.put(`/user/${enc(this.session.user_id)}/account_data/${enc(type)}`, content);
  }
  searchRoom(roomId, term) {
    return this.post("/search", {
      search_categories: { room_events: { search_term: term, filter: { rooms: [roomId] }, order_by: "recent" } },
    });
  }
}
