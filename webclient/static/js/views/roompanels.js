// Dialogs about the open room: its members (with roles, and inviting), its settings (name,
// topic, join rule), and searching its messages.

import { h, modal, formatDay, formatTime, toast } from "../dom.js";
import { alertError } from "./roomlist.js";
import { avatar } from "./avatar.js";
import { avatarPicker } from "./dialogs.js";

function role(level) {
  if (level === Infinity) return "Owner";
  if (level >= 100) return "Admin";
  if (level >= 50) return "Moderator";
  return null;
}

const PRESENCE_LOOKUPS = 50;

// Presence the sync has not brought (it reports changes only), for the first members.
async function fetchPresence(app, userIds) {
  const missing = userIds.filter((u) => !app.store.presence.has(u)).slice(0, PRESENCE_LOOKUPS);
  await Promise.all(missing.map(async (u) => {
    try {
      const status = await app.api.get(`/presence/${encodeURIComponent(u)}/status`);
      if (typeof status.presence === "string") app.store.presence.set(u, status.presence);
    } catch { /* not shared with us */ }
  }));
}

export function membersDialog(app, room) {
  const list = h("ul", { class: "members" });
  const render = () => {
    list.replaceChildren();
    const entries = [...room.members("join"), ...room.members("invite")]
      .map((u) => ({ u, level: room.powerLevel(u), invited: room.members("invite").includes(u) }))
      .sort((a, b) => b.level - a.level || room.memberName(a.u).localeCompare(room.memberName(b.u)));
    for (const { u, level, invited } of entries) {
      const r = role(level);
      const presence = app.store.presence.get(u) || "offline";
      list.append(h("li", { dataset: { userId: u } },
        h("span", { class: `presence ${presence}`, role: "img", "aria-label": presence, title: presence }),
        avatar(app, room.stateContent("m.room.member", u).avatar_url, room.memberName(u)),
        h("span", { class: "member-name" }, room.memberName(u)), " ",
        h("span", { class: "member-id" }, u),
        r ? h("span", { class: "role" }, r) : null,
        invited ? h("span", { class: "role" }, "Invited") : null));
    }
  };
  render();
  fetchPresence(app, room.members("join")).then(render);
  const input = h("input", { id: "invite-user", placeholder: "@name:server", required: true });
  const form = h("form", { class: "row" }, h("label", { for: "invite-user" }, "Invite user"), input,
    h("button", { type: "submit" }, "Invite"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await app.api.post(`/rooms/${encodeURIComponent(room.id)}/invite`, { user_id: input.value.trim() });
      input.value = "";
      toast("Invitation sent.");
    } catch (err) { alertError(err); }
  });
  const dlg = modal("Members", h("div", {}, list, form));
  const listener = (e) => { if (e.detail.roomId === room.id) render(); };
  app.store.addEventListener("room", listener);
  dlg.addEventListener("close", () => app.store.removeEventListener("room", listener));
}

export function settingsDialog(app, room) {
  const name = h("input", { id: "settings-name", value: room.stateContent("m.room.name").name || "" });
  const topic = h("textarea", { id: "settings-topic", rows: "3" });
  topic.value = room.stateContent("m.room.topic").topic || "";
  const rule = room.stateContent("m.room.join_rules").join_rule || "invite";
  const joinRule = h("select", { id: "settings-join-rule" },
    h("option", { value: "invite", selected: rule !== "public" }, "Invite only"),
    h("option", { value: "public", selected: rule === "public" }, "Anyone can join"));
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const picker = avatarPicker(app, "settings-avatar", "Room picture", room.stateContent("m.room.avatar").url,
    room.name(app.store.myId), (uri) => app.api.setState(room.id, "m.room.avatar", { url: uri }));
  const form = h("form", { class: "stack" }, picker,
    h("label", { for: "settings-name" }, "Room name"), name,
    h("label", { for: "settings-topic" }, "Topic"), topic,
    h("label", { for: "settings-join-rule" }, "Who can join"), joinRule,
    h("p", { class: "actions" }, save));
  const dlg = modal("Room settings", form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    save.disabled = true;
    try {
      if (name.value !== (room.stateContent("m.room.name").name || "")) await app.api.setState(room.id, "m.room.name", { name: name.value });
      if (topic.value !== (room.stateContent("m.room.topic").topic || "")) await app.api.setState(room.id, "m.room.topic", { topic: topic.value });
      if (joinRule.value !== rule) await app.api.setState(room.id, "m.room.join_rules", { join_rule: joinRule.value });
      dlg.close();
    } catch (err) { alertError(err); save.disabled = false; }
  });
}

export function searchDialog(app, room) {
  const input = h("input", { id: "search-term", type: "search", required: true });
  const results = h("ol", { class: "search-results", "aria-live": "polite" });
  const form = h("form", { class: "row" }, h("label", { for: "search-term" }, "Search messages"), input,
    h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const found = await app.api.searchRoom(room.id, input.value.trim());
      const hits = ((found.search_categories || {}).room_events || {}).results || [];
      results.replaceChildren();
      if (!hits.length) results.append(h("li", {}, "No messages found."));
      for (const hit of hits) {
        const ev = hit.result || {};
        const content = ev.content || {};
        results.append(h("li", {},
          h("span", { class: "sender-name" }, room.memberName(ev.sender)), " ",
          h("time", {}, `${formatDay(ev.origin_server_ts)} ${formatTime(ev.origin_server_ts)}`),
          h("p", {}, typeof content.body === "string" ? content.body : "")));
      }
    } catch (err) { alertError(err); }
  });
  modal("Search this room", h("div", {}, form, results));
  input.focus();
}
