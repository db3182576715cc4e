// A thread: its root and replies in a dialog, with a box to reply in the thread.

import { h, modal, formatTime, patch, KeyedNodes } from "../dom.js";
import { messageBody } from "./eventbody.js";
import { markdownToHtml } from "../markdown.js";
import { alertError } from "./roomlist.js";

function threadItem(app, room, ev) {
  return h("li", { class: "message", dataset: { eventId: ev.event_id } },
    h("p", { class: "sender" }, h("span", { class: "sender-name" }, room.memberName(ev.sender)), " ",
      h("time", {}, formatTime(ev.origin_server_ts))),
    messageBody(room, ev, app.media));
}

export async function threadDialog(app, room, root) {
  const list = h("ol", { class: "timeline thread", "aria-label": "Thread", "aria-live": "polite" });
  const nodes = new KeyedNodes();
  const render = () => {
    const events = [root, ...(room.threads.get(root.event_id) || [])];
    patch(list, events.map((ev) => nodes.get(ev.event_id, JSON.stringify([room.isRedacted(ev), (room.edits.get(ev.event_id) || {}).event_id]),
      () => threadItem(app, room, ev))));
    nodes.sweep();
  };
  const input = h("textarea", { id: "thread-input", rows: "2", "aria-label": "Thread reply" });
  const form = h("form", { class: "composer" },
    h("div", { class: "composer-row" }, input, h("button", { type: "submit", class: "primary" }, "Reply")));
  const send = async () => {
    const text = input.value.trim();
    if (!text) return;
    const replies = room.threads.get(root.event_id) || [];
    const latest = replies.length ? replies.at(-1).event_id : root.event_id;
    const content = { msgtype: "m.text", body: text, "m.mentions": {} };
    const html = markdownToHtml(text);
    if (html) Object.assign(content, { format: "org.matrix.custom.html", formatted_body: html });
    content["m.relates_to"] = { rel_type: "m.thread", event_id: root.event_id, is_falling_back: true, "m.in_reply_to": { event_id: latest } };
    input.value = "";
    try { await app.api.send(room.id, "m.room.message", content); } catch (err) { input.value = text; alertError(err); }
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); send(); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  render();
  const listener = (e) => { if (e.detail.roomId === room.id) render(); };
  app.store.addEventListener("room", listener);
  const dlg = modal("Thread", h("div", { class: "thread-panel" }, list, form));
  dlg.addEventListener("close", () => app.store.removeEventListener("room", listener));
  input.focus();
  try {
    const page = await app.api.get(`/_matrix/client/v1/rooms/${encodeURIComponent(room.id)}/relations/${encodeURIComponent(root.event_id)}/m.thread`, { limit: "100", dir: "f" });
    room.addThreadEvents(page.chunk || []);
    render();
  } catch { /* the replies the sync brought are shown */ }
}
