// The sidebar's list: invites (accept / decline) first, then rooms by latest activity. Items
// are rebuilt only when what they show changed, so keyboard focus stays put during syncs.

import { h, KeyedNodes, patch, toast } from "../dom.js";
import { avatar } from "./avatar.js";

function inviteItem(app, room) {
  const me = app.store.myId;
  const name = room.name(me);
  const from = room.inviteSender ? room.memberName(room.inviteSender) : "someone";
  const accept = async () => {
    try {
      await app.api.join(room.id);
      if (room.inviteDirect && room.inviteSender) await addDirect(app, room.inviteSender, room.id);
      app.openWhenSynced(room.id);
    } catch (err) { alertError(err); }
  };
  const decline = async () => {
    try {
      await app.api.leave(room.id);
      app.store.invites.delete(room.id);
      app.renderRooms();
    } catch (err) { alertError(err); }
  };
  return h("li", { class: "invite", dataset: { roomId: room.id } },
    h("span", { class: "room-name" }, name),
    h("span", { class: "invite-from" }, `Invited by ${from}`),
    h("span", { class: "invite-actions" },
      h("button", { type: "button", class: "primary", onclick: accept, "aria-label": `Accept invite to ${name}` }, "Accept"),
      h("button", { type: "button", onclick: decline, "aria-label": `Decline invite to ${name}` }, "Decline")));
}

// "Alice: the last message", as plain text.
function preview(room, me) {
  const ev = [...room.timeline].reverse().find((e) => e.type === "m.room.message" && !e.pending);
  if (!ev) return "";
  const content = room.shownContent(ev);
  const body = room.isRedacted(ev) ? "Message deleted" : String(content.body || "").split("\n")[0].slice(0, 80);
  return `${ev.sender === me ? "You" : room.memberName(ev.sender)}: ${body}`;
}

function roomItem(app, room, { name, count, highlight, current, direct, avatarUrl, presence, last }) {
  let badge = null;
  if (count) {
    const label = `${count} unread${highlight ? `, ${highlight} mentioning you` : ""}`;
    badge = h("span", { class: highlight ? "badge highlight" : "badge", "aria-label": label }, String(count));
  }
  return h("li", {},
    h("button", {
      type: "button", class: current ? "room current" : "room", "aria-current": current ? "true" : null,
      dataset: { roomId: room.id }, onclick: () => app.openRoom(room.id),
    }, avatar(app, avatarUrl, name),
    h("span", { class: "room-text" }, h("span", { class: "room-name" }, direct ? `@ ${name}` : name),
      last ? h("span", { class: "room-preview" }, last) : null),
    presence ? h("span", { class: `presence ${presence}`, role: "img", "aria-label": presence, title: presence }) : null,
    badge));
}

// Records a direct chat in the m.direct account data.
export async function addDirect(app, userId, roomId) {
  const direct = { ...(app.store.accountData.get("m.direct") || {}) };
  const rooms = Array.isArray(direct[userId]) ? direct[userId] : [];
  if (rooms.includes(roomId)) return;
  direct[userId] = [...rooms, roomId];
  app.store.accountData.set("m.direct", direct);
  await app.api.setAccountData("m.direct", direct);
}

export function alertError(err) {
  toast(err && err.message ? err.message : "Something went wrong.");
}

export class RoomList {
  constructor(root, app) {
    this.app = app;
    this.nodes = new KeyedNodes();
    this.invitesHeading = h("h2", {}, "Invites");
    this.invites = h("ul", { class: "invites" });
    this.empty = h("p", { class: "hint" }, "No rooms yet.");
    this.rooms = h("ul", { class: "rooms" });
    root.append(this.invitesHeading, this.invites, h("h2", {}, "Rooms"), this.empty, this.rooms);
  }

  render() {
    const app = this.app;
    const me = app.store.myId;
    const invites = [...app.store.invites.values()];
    this.invitesHeading.hidden = this.invites.hidden = !invites.length;
    patch(this.invites, invites.map((room) => this.nodes.get(`i:${room.id}`, JSON.stringify([room.name(me), room.inviteSender]),
      () => inviteItem(app, room))));
    const rooms = app.store.sortedRooms();
    this.empty.hidden = Boolean(rooms.length) || !app.store.synced;
    patch(this.rooms, rooms.map((room) => {
      const direct = app.store.isDirect(room.id);
      const other = direct ? room.members().find((u) => u !== me) : null;
      const avatarUrl = room.stateContent("m.room.avatar").url || (other ? room.stateContent("m.room.member", other).avatar_url : null);
      const presence = other ? app.store.presence.get(other) || "offline" : null;
      const shown = { name: room.name(me), ...app.store.unread(room), current: room.id === app.currentRoomId, direct, avatarUrl, presence, last: preview(room, me) };
      return this.nodes.get(`r:${room.id}`, JSON.stringify(shown), () => roomItem(app, room, shown));
    }));
    this.nodes.sweep();
  }
}
