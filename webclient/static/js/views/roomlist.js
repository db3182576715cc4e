// The sidebar's list: invites (accept / decline) first, then rooms by latest activity.

import { h, clear, toast } from "../dom.js";

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

function roomItem(app, room) {
  const me = app.store.myId;
  const name = room.name(me);
  const { count, highlight } = app.store.unread(room);
  const current = room.id === app.currentRoomId;
  let badge = null;
  if (count) {
    const label = `${count} unread${highlight ? `, ${highlight} mentioning you` : ""}`;
    badge = h("span", { class: highlight ? "badge highlight" : "badge", "aria-label": label }, String(count));
  }
  return h("li", {},
    h("button", {
      type: "button", class: current ? "room current" : "room", "aria-current": current ? "true" : null,
      dataset: { roomId: room.id }, onclick: () => app.openRoom(room.id),
    }, h("span", { class: "room-name" }, app.store.isDirect(room.id) ? `@ ${name}` : name), badge));
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

export function renderRoomList(root, app) {
  clear(root);
  const invites = [...app.store.invites.values()];
  if (invites.length) {
    root.append(h("h2", {}, "Invites"), h("ul", { class: "invites" }, invites.map((r) => inviteItem(app, r))));
  }
  const rooms = app.store.sortedRooms();
  root.append(h("h2", {}, "Rooms"));
  if (!rooms.length && app.store.synced) root.append(h("p", { class: "hint" }, "No rooms yet."));
  root.append(h("ul", { class: "rooms" }, rooms.map((r) => roomItem(app, r))));
}
