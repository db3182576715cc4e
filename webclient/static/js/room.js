// One room as the client knows it: state, the loaded stretch of timeline, and what is
// aggregated onto it (edits, reactions, redactions, receipts, typing).

const HIDDEN_TYPES = new Set(["m.reaction", "m.room.redaction"]);

export class Room {
  constructor(id) {
    this.id = id;
    this.membership = "join";
    this.state = new Map(); // "type\u0000state_key" -> event
    this.timeline = [];
    this.byId = new Map();
    this.prevBatch = null;
    this.atStart = false;
    this.edits = new Map(); // target event ID -> newest m.replace event
    this.threads = new Map(); // thread root event ID -> replies in the thread, oldest first
    this.reactions = new Map(); // target event ID -> Map key -> Map sender -> reaction event ID
    this.receipts = new Map(); // user ID -> event ID
    this.typing = [];
    this.serverUnread = null; // {notification_count, highlight_count} from /sync when present
    this.lastActive = 0;
    this.inviteSender = null;
    this.inviteDirect = false;
  }

  stateEvent(type, key = "") { return this.state.get(`${type}\u0000${key}`); }
  stateContent(type, key = "") { const ev = this.stateEvent(type, key); return ev ? ev.content || {} : {}; }

  setState(ev) {
    if (typeof ev.state_key !== "string") return;
    this.state.set(`${ev.type}\u0000${ev.state_key}`, ev);
  }

  members(membership = "join") {
    const out = [];
    for (const ev of this.state.values()) {
      if (ev.type === "m.room.member" && (ev.content || {}).membership === membership) out.push(ev.state_key);
    }
    return out;
  }

  memberName(userId) {
    const name = this.stateContent("m.room.member", userId).displayname;
    return typeof name === "string" && name.trim() ? name : userId;
  }

  // Room version 12 and later: creators outrank everyone and are not in the power levels.
  isCreator(userId) {
    const create = this.stateEvent("m.room.create");
    if (!create || !(Number.parseInt(create.content.room_version || "1", 10) >= 12)) return false;
    const extra = Array.isArray(create.content.additional_creators) ? create.content.additional_creators : [];
    return create.sender === userId || extra.includes(userId);
  }

  powerLevel(userId) {
    if (this.isCreator(userId)) return Infinity;
    const pl = this.stateContent("m.room.power_levels");
    const users = pl.users || {};
    if (typeof users[userId] === "number") return users[userId];
    if (!this.stateEvent("m.room.power_levels")) {
      return this.stateContent("m.room.create").creator === userId || this.stateEvent("m.room.create")?.sender === userId ? 100 : 0;
    }
    return typeof pl.users_default === "number" ? pl.users_default : 0;
  }

  name(myId) {
    const name = this.stateContent("m.room.name").name;
    if (typeof name === "string" && name.trim()) return name;
    const alias = this.stateContent("m.room.canonical_alias").alias;
    if (typeof alias === "string" && alias) return alias;
    const others = [...this.members("join"), ...this.members("invite")].filter((u) => u !== myId);
    if (others.length) return others.slice(0, 3).map((u) => this.memberName(u)).join(", ");
    return "Empty room";
  }

  // A message of mine shown at once, until the sync brings the real event (same txn ID).
  addLocalEcho(txnId, sender, content) {
    const ev = { event_id: `~${txnId}`, type: "m.room.message", sender, content, origin_server_ts: Date.now(), unsigned: { transaction_id: txnId }, pending: true };
    this.byId.set(ev.event_id, ev);
    this.timeline.push(ev);
    return ev;
  }

  removeLocalEcho(txnId) {
    const id = `~${txnId}`;
    if (!this.byId.delete(id)) return;
    this.timeline = this.timeline.filter((ev) => ev.event_id !== id);
  }

  // Adds events at the end (forwards) or the start (from /messages, newest first).
  addEvents(events, { backwards = false } = {}) {
    const fresh = [];
    for (const ev of events) {
      if (!ev || typeof ev.event_id !== "string" || this.byId.has(ev.event_id)) continue;
      const txnId = ev.unsigned && ev.unsigned.transaction_id;
      if (typeof txnId === "string") this.removeLocalEcho(txnId);
      this.byId.set(ev.event_id, ev);
      fresh.push(ev);
      this.aggregate(ev);
      if (!backwards && typeof ev.state_key === "string") {
        // Kept for "X is now Y" when the server sends no unsigned.prev_content.
        const old = this.stateEvent(ev.type, ev.state_key);
        if (old && old.event_id !== ev.event_id && !ev.localPrev && !(ev.unsigned && ev.unsigned.prev_content)) {
          ev.localPrev = old.content;
        }
        this.setState(ev);
      }
      if (!backwards && ev.origin_server_ts > this.lastActive) this.lastActive = ev.origin_server_ts;
    }
    const shown = fresh.filter((ev) => this.isShown(ev));
    if (backwards) this.timeline.unshift(...shown.reverse());
    else this.timeline.push(...shown);
    if (!this.lastActive && this.timeline.length) this.lastActive = this.timeline.at(-1).origin_server_ts;
    return fresh;
  }

  isShown(ev) {
    if (HIDDEN_TYPES.has(ev.type)) return false;
    const rel = (ev.content || {})["m.relates_to"] || {};
    return rel.rel_type !== "m.replace" && rel.rel_type !== "m.thread";
  }

  // Replies in a thread: those this client holds, or the server's count if that is more.
  threadCount(rootId) {
    const root = this.byId.get(rootId);
    const bundled = (((root && root.unsigned) || {})["m.relations"] || {})["m.thread"];
    const count = bundled && Number.isInteger(bundled.count) ? bundled.count : 0;
    return Math.max(count, (this.threads.get(rootId) || []).length);
  }

  // Thread replies fetched from /relations (the sync brings the new ones).
  addThreadEvents(events) {
    for (const ev of events) {
      if (!ev || typeof ev.event_id !== "string" || this.byId.has(ev.event_id)) continue;
      this.byId.set(ev.event_id, ev);
      this.aggregate(ev);
    }
  }

  aggregate(ev) {
    const content = ev.content || {};
    const rel = content["m.relates_to"] || {};
    if (ev.type === "m.room.redaction") this.redact(content.redacts || ev.redacts);
    else if (ev.type === "m.reaction" && rel.rel_type === "m.annotation" && typeof rel.key === "string") {
      const byKey = this.reactions.get(rel.event_id) || new Map();
      const senders = byKey.get(rel.key) || new Map();
      senders.set(ev.sender, ev.event_id);
      byKey.set(rel.key, senders);
      this.reactions.set(rel.event_id, byKey);
    } else if (rel.rel_type === "m.thread" && typeof rel.event_id === "string" && ev.type === "m.room.message") {
      const replies = this.threads.get(rel.event_id) || [];
      replies.push(ev);
      replies.sort((a, b) => a.origin_server_ts - b.origin_server_ts);
      this.threads.set(rel.event_id, replies);
    } else if (rel.rel_type === "m.replace" && content["m.new_content"]) {
      const target = this.byId.get(rel.event_id);
      if (target && target.sender !== ev.sender) return; // only the sender may edit
      const prev = this.edits.get(rel.event_id);
      if (!prev || prev.origin_server_ts <= ev.origin_server_ts) this.edits.set(rel.event_id, ev);
    }
  }

  redact(eventId) {
    const target = this.byId.get(eventId);
    if (!target) return;
    target.content = {};
    target.unsigned = { ...(target.unsigned || {}), redacted_because: true };
    for (const byKey of this.reactions.values()) {
      for (const [key, senders] of byKey) {
        for (const [sender, id] of senders) if (id === eventId) senders.delete(sender);
        if (!senders.size) byKey.delete(key);
      }
    }
    for (const [target2, edit] of this.edits) if (edit.event_id === eventId) this.edits.delete(target2);
  }

  // The content to show for an event: its newest edit's m.new_content when edited.
  shownContent(ev) {
    const edit = this.edits.get(ev.event_id);
    return edit ? edit.content["m.new_content"] : ev.content || {};
  }

  isRedacted(ev) { return Boolean(ev.unsigned && ev.unsigned.redacted_because); }

  // Messages from others after my read receipt, counted over the loaded timeline, and how
  // many of them mention me (mentions: event => boolean).
  localUnread(myId, mentions) {
    const mine = this.receipts.get(myId);
    let count = 0;
    let highlight = 0;
    for (let i = this.timeline.length - 1; i >= 0; i -= 1) {
      const ev = this.timeline[i];
      if (ev.event_id === mine || ev.sender === myId) break;
      if (ev.type !== "m.room.message" || this.isRedacted(ev)) continue;
      count += 1;
      if (mentions(ev)) highlight += 1;
    }
    return { count, highlight };
  }

  // Uses the server's unread_notifications when /sync has them, else counts locally.
  unread(myId, mentions = () => false) {
    if (this.serverUnread) {
      return { count: this.serverUnread.notification_count || 0, highlight: this.serverUnread.highlight_count || 0 };
    }
    return this.localUnread(myId, mentions);
  }

  lastEvent() { return this.timeline.at(-1) || null; }
}
