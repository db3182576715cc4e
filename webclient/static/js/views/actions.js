// What can be done to a message: reply, react (a small emoji picker), edit, delete; and the
// row of reactions under it, where a click adds or takes back your own.

import { h } from "../dom.js";
import { alertError } from "./roomlist.js";
import { threadDialog } from "./thread.js";

export const EMOJI = ["👍", "👎", "😄", "🎉", "❤️", "😮", "😢", "🙏", "🚀", "👀", "✅", "🔥"];

function canRedact(room, ev, me) {
  if (ev.sender === me) return true;
  const pl = room.stateContent("m.room.power_levels");
  const needed = typeof pl.redact === "number" ? pl.redact : 50;
  return room.powerLevel(me) >= needed;
}

async function toggleReaction(view, ev, key) {
  const room = view.room;
  const me = view.app.store.myId;
  const mine = ((room.reactions.get(ev.event_id) || new Map()).get(key) || new Map()).get(me);
  try {
    if (mine) await view.app.api.redact(room.id, mine);
    else await view.app.api.send(room.id, "m.reaction", { "m.relates_to": { rel_type: "m.annotation", event_id: ev.event_id, key } });
  } catch (err) { alertError(err); }
}

// The picker lives on <body>, not in the message's item, which a sync may rebuild meanwhile.
function emojiPicker(view, ev, anchor) {
  document.querySelectorAll(".emoji-picker").forEach((el) => el.remove());
  const close = () => { picker.remove(); document.removeEventListener("pointerdown", outside, true); };
  const outside = (e) => { if (!picker.contains(e.target)) close(); };
  // Keyboard users go back to the React button: found again by event ID (a sync may have
  // rebuilt the item), with the item focused first, as its actions show only on :focus-within.
  const back = () => {
    const item = document.querySelector(`.timeline [data-event-id="${CSS.escape(ev.event_id)}"]`);
    if (!item) return;
    item.focus({ preventScroll: true });
    const react = item.querySelector('[aria-label="React"]');
    if (react) react.focus({ preventScroll: true });
  };
  const picker = h("div", { class: "emoji-picker", role: "dialog", "aria-label": "Pick a reaction" },
    EMOJI.map((emoji) => h("button", {
      type: "button", "aria-label": `React with ${emoji}`,
      onclick: (e) => { close(); toggleReaction(view, ev, emoji); if (e.detail === 0) back(); },
    }, emoji)));
  picker.addEventListener("keydown", (e) => { if (e.key === "Escape") { close(); back(); } });
  const box = anchor.getBoundingClientRect();
  picker.style.top = `${Math.max(8, Math.min(box.bottom + 4, window.innerHeight - 120))}px`;
  picker.style.right = `${Math.max(8, window.innerWidth - box.right)}px`;
  document.body.append(picker);
  document.addEventListener("pointerdown", outside, true);
  picker.querySelector("button").focus();
}

export function eventActions(view, ev) {
  const me = view.app.store.myId;
  const room = view.room;
  const bar = h("div", { class: "event-actions" });
  bar.append(
    h("button", { type: "button", class: "icon", "aria-label": "Reply", title: "Reply", onclick: () => view.composer.replyTo(ev) }, "↩"));
  bar.append(h("button", { type: "button", class: "icon", "aria-label": "Reply in thread", title: "Reply in thread",
    onclick: () => threadDialog(view.app, room, ev) }, "🧵"));
  const react = h("button", { type: "button", class: "icon", "aria-label": "React", title: "React" }, "☺");
  react.addEventListener("click", () => emojiPicker(view, ev, react));
  bar.append(react);
  if (ev.sender === me) {
    bar.append(h("button", { type: "button", class: "icon", "aria-label": "Edit", title: "Edit", onclick: () => view.composer.edit(ev) }, "✎"));
  }
  if (canRedact(room, ev, me)) {
    const del = async () => {
      if (!window.confirm("Delete this message?")) return;
      try { await view.app.api.redact(room.id, ev.event_id); } catch (err) { alertError(err); }
    };
    bar.append(h("button", { type: "button", class: "icon", "aria-label": "Delete", title: "Delete", onclick: del }, "🗑"));
  }
  return bar;
}

export function reactionsRow(view, ev) {
  const byKey = view.room.reactions.get(ev.event_id);
  if (!byKey || !byKey.size || view.room.isRedacted(ev)) return null;
  const me = view.app.store.myId;
  return h("div", { class: "reactions" }, [...byKey].map(([key, senders]) => {
    const names = [...senders.keys()].map((u) => view.room.memberName(u)).join(", ");
    return h("button", {
      type: "button", class: "reaction", "aria-pressed": senders.has(me) ? "true" : "false",
      "aria-label": `${key} ${senders.size}, from ${names}`, title: names,
      onclick: () => toggleReaction(view, ev, key),
    }, `${key} ${senders.size}`);
  }));
}
