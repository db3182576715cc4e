// Dialogs from the account menu: create a room, browse the directory, start a direct chat,
// edit your profile.

import { h, modal, toast } from "../dom.js";
import { addDirect, alertError } from "./roomlist.js";
import { avatar } from "./avatar.js";

export function createRoomDialog(app) {
  const name = h("input", { id: "new-room-name", required: true, maxlength: "255" });
  const topic = h("input", { id: "new-room-topic", maxlength: "1000" });
  const pub = h("input", { id: "new-room-public", type: "checkbox" });
  const form = h("form", { class: "stack" },
    h("label", { for: "new-room-name" }, "Name"), name,
    h("label", { for: "new-room-topic" }, "Topic (optional)"), topic,
    h("p", { class: "check" }, pub, h("label", { for: "new-room-public" }, "Public: anyone can find and join it")),
    h("p", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create room")));
  const dlg = modal("New room", form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { name: name.value.trim(), preset: pub.checked ? "public_chat" : "private_chat", visibility: pub.checked ? "public" : "private" };
    if (topic.value.trim()) body.topic = topic.value.trim();
    try {
      const { room_id: roomId } = await app.api.createRoom(body);
      dlg.close();
      app.openWhenSynced(roomId);
    } catch (err) { alertError(err); }
  });
  name.focus();
}

export function directoryDialog(app) {
  const term = h("input", { id: "directory-term", type: "search" });
  const results = h("ul", { class: "directory", "aria-live": "polite" });
  let dlg;
  const search = async () => {
    try {
      const found = await app.api.publicRooms(term.value.trim());
      results.replaceChildren();
      if (!(found.chunk || []).length) results.append(h("li", {}, "No public rooms found."));
      for (const room of found.chunk || []) {
        const label = room.name || room.canonical_alias || room.room_id;
        const join = async () => {
          try {
            await app.api.join(room.room_id);
            dlg.close();
            app.openWhenSynced(room.room_id);
          } catch (err) { alertError(err); }
        };
        results.append(h("li", {},
          h("span", { class: "room-name" }, label),
          h("span", { class: "room-topic" }, room.topic || ""),
          h("span", { class: "members-count" }, `${room.num_joined_members || 0} members`),
          app.store.rooms.has(room.room_id)
            ? h("button", { type: "button", onclick: () => { dlg.close(); app.openRoom(room.room_id); } }, "Open")
            : h("button", { type: "button", class: "primary", onclick: join, "aria-label": `Join ${label}` }, "Join")));
      }
    } catch (err) { alertError(err); }
  };
  const form = h("form", { class: "row" }, h("label", { for: "directory-term" }, "Search public rooms"), term,
    h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (e) => { e.preventDefault(); search(); });
  dlg = modal("Browse rooms", h("div", {}, form, results));
  search();
  term.focus();
}

async function startDirect(app, userId) {
  const existing = ((app.store.accountData.get("m.direct") || {})[userId] || []).find((id) => app.store.rooms.has(id));
  if (existing) { app.openRoom(existing); return; }
  const { room_id: roomId } = await app.api.createRoom({ is_direct: true, invite: [userId], preset: "trusted_private_chat" });
  await addDirect(app, userId, roomId);
  app.openWhenSynced(roomId);
}

export function directChatDialog(app) {
  const term = h("input", { id: "dm-term", type: "search", required: true });
  const results = h("ul", { class: "user-results", "aria-live": "polite" });
  let dlg;
  const form = h("form", { class: "row" }, h("label", { for: "dm-term" }, "Find people"), term,
    h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const found = await app.api.searchUsers(term.value.trim());
      results.replaceChildren();
      const users = (found.results || []).filter((u) => u.user_id !== app.store.myId);
      if (!users.length) results.append(h("li", {}, "Nobody found."));
      for (const user of users) {
        const label = user.display_name || user.user_id;
        const start = async () => {
          try { dlg.close(); await startDirect(app, user.user_id); } catch (err) { alertError(err); }
        };
        results.append(h("li", {}, h("span", { class: "member-name" }, label), " ",
          h("span", { class: "member-id" }, user.user_id),
          h("button", { type: "button", class: "primary", onclick: start, "aria-label": `Chat with ${label} (${user.user_id})` }, "Chat")));
      }
    } catch (err) { alertError(err); }
  });
  dlg = modal("Start a chat", h("div", {}, form, results));
  term.focus();
}

// A picture chooser that uploads the file and hands its mxc:// URI to `save`.
export function avatarPicker(app, id, label, current, name, save) {
  const preview = h("span", { class: "avatar-preview" }, avatar(app, current, name, { size: "large" }));
  const input = h("input", { id, type: "file", accept: "image/png,image/jpeg,image/gif,image/webp" });
  const bar = h("progress", { max: "1", value: "0", hidden: true, "aria-label": "Uploading picture" });
  input.addEventListener("change", async () => {
    const file = input.files[0];
    if (!file) return;
    bar.hidden = false;
    try {
      const uri = await app.media.upload(file, (done) => { bar.value = done; });
      await save(uri);
      preview.replaceChildren(avatar(app, uri, name, { size: "large" }));
    } catch (err) { alertError(err); } finally { bar.hidden = true; input.value = ""; }
  });
  return h("div", { class: "avatar-picker" }, preview, h("label", { for: id }, label), input, bar);
}

export async function profileDialog(app) {
  const me = app.store.myId;
  let profile = {};
  try { profile = await app.api.profile(me); } catch { /* no profile yet */ }
  const name = h("input", { id: "profile-name", maxlength: "255", value: profile.displayname || "" });
  const picker = avatarPicker(app, "profile-avatar", "Profile picture", profile.avatar_url, profile.displayname || me,
    async (uri) => {
      await app.api.put(`/profile/${encodeURIComponent(me)}/avatar_url`, { avatar_url: uri });
      toast("Profile picture saved.");
    });
  const form = h("form", { class: "stack" },
    h("p", {}, me), picker,
    h("label", { for: "profile-name" }, "Display name"), name,
    h("p", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save")));
  const dlg = modal("Profile", form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await app.api.setDisplayName(name.value.trim());
      dlg.close();
      toast("Display name saved.");
    } catch (err) { alertError(err); }
  });
}
