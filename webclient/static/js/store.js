// Everything the client knows, built from /sync responses (WebSocket or long-poll) and
// /messages pages. Views subscribe to changes; nothing here touches the DOM.

import { Room } from "./room.js";

export class Store extends EventTarget {
  constructor(myId) {
    super();
    this.myId = myId;
    this.rooms = new Map();
    this.invites = new Map(); // room ID -> Room (holding the stripped invite state)
    this.accountData = new Map();
    this.presence = new Map(); // user ID -> "online" | "unavailable" | "offline"
    this.synced = false;
  }

  room(roomId) {
    let room = this.rooms.get(roomId);
    if (!room) { room = new Room(roomId); this.rooms.set(roomId, room); }
    return room;
  }

  emit(type, detail = {}) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  applySync(sync) {
    const initial = !this.synced;
    for (const ev of (sync.account_data || {}).events || []) this.accountData.set(ev.type, ev.content || {});
    for (const ev of (sync.presence || {}).events || []) {
      const state = (ev.content || {}).presence;
      if (ev.type === "m.presence" && typeof state === "string") this.presence.set(ev.sender, state);
    }
    const rooms = sync.rooms || {};
    const changed = new Set();
    for (const [roomId, data] of Object.entries(rooms.join || {})) {
      this.invites.delete(roomId);
      this.applyJoined(this.room(roomId), data, initial);
      changed.add(roomId);
    }
    for (const [roomId, data] of Object.entries(rooms.invite || {})) this.applyInvite(roomId, data);
    for (const roomId of Object.keys(rooms.leave || {})) {
      this.rooms.delete(roomId);
      this.invites.delete(roomId);
    }
    this.synced = true;
    this.emit("rooms");
    for (const roomId of changed) this.emit("room", { roomId });
  }

  applyJoined(room, data, initial) {
    room.membership = "join";
    const timeline = data.timeline || {};
    // What a state event replaced, for "X is now Y" when the server sends no prev_content
    // (taken before the state section, which may already hold the new event).
    for (const ev of timeline.events || []) {
      const old = typeof ev.state_key === "string" ? room.stateEvent(ev.type, ev.state_key) : null;
      if (old && old.event_id !== ev.event_id && !(ev.unsigned && ev.unsigned.prev_content)) ev.localPrev = old.content;
    }
    for (const ev of (data.state || {}).events || []) room.setState(ev);
    if (timeline.limited) {
      room.timeline = [];
      room.byId = new Map();
      room.prevBatch = timeline.prev_batch || null;
      room.atStart = false;
    } else if (room.prevBatch === null && timeline.prev_batch) {
      room.prevBatch = timeline.prev_batch;
    }
    const fresh = room.addEvents(timeline.events || []);
    for (const ev of (data.ephemeral || {}).events || []) this.applyEphemeral(room, ev);
    if (data.unread_notifications) room.serverUnread = data.unread_notifications;
    if (!initial) {
      for (const ev of fresh) if (ev.sender !== this.myId) this.emit("message", { room, event: ev });
    }
  }

  applyEphemeral(room, ev) {
    const content = ev.content || {};
    if (ev.type === "m.typing") room.typing = Array.isArray(content.user_ids) ? content.user_ids : [];
    if (ev.type !== "m.receipt") return;
    for (const [eventId, types] of Object.entries(content)) {
      for (const [type, users] of Object.entries(types || {})) {
        if (type !== "m.read" && type !== "m.read.private") continue;
        for (const userId of Object.keys(users || {})) room.receipts.set(userId, eventId);
      }
    }
  }

  applyInvite(roomId, data) {
    const room = new Room(roomId);
    room.membership = "invite";
    for (const ev of (data.invite_state || {}).events || []) {
      room.setState(ev);
      if (ev.type === "m.room.member" && ev.state_key === this.myId) {
        room.inviteSender = ev.sender;
        room.inviteDirect = (ev.content || {}).is_direct === true;
      }
    }
    room.lastActive = Date.now();
    this.invites.set(roomId, room);
  }

  // Older events from /messages, newest first.
  prepend(room, page) {
    for (const ev of page.state || []) if (!room.stateEvent(ev.type, ev.state_key)) room.setState(ev);
    room.addEvents(page.chunk || [], { backwards: true });
    room.prevBatch = page.end || null;
    room.atStart = !page.end || !(page.chunk || []).length;
    this.emit("room", { roomId: room.id });
  }

  sortedRooms() {
    return [...this.rooms.values()].sort((a, b) => b.lastActive - a.lastActive);
  }

  directRooms() {
    const direct = this.accountData.get("m.direct") || {};
    const ids = new Set();
    for (const list of Object.values(direct)) if (Array.isArray(list)) list.forEach((id) => ids.add(id));
    return ids;
  }

  isDirect(roomId) { return this.directRooms().has(roomId); }

  // Does this event mention me (m.mentions, else my ID or display name in the body)?
  mentionsMe(room, ev) {
    const content = ev.content || {};
    const mentions = content["m.mentions"];
    if (mentions && Array.isArray(mentions.user_ids)) return mentions.user_ids.includes(this.myId);
    const body = typeof content.body === "string" ? content.body.toLowerCase() : "";
    const name = room.memberName(this.myId).toLowerCase();
    return body.includes(this.myId.toLowerCase()) || (name.length > 1 && body.includes(name));
  }

  unread(room) { return room.unread(this.myId, (ev) => this.mentionsMe(room, ev)); }

  totalUnread() {
    let total = 0;
    for (const room of this.rooms.values()) total += this.unread(room).count;
    return total + this.invites.size;
  }
}
