// The timeline of the open room: back-scroll through /messages, day separators, sender
// grouping, replies, reactions and read receipts. Items are kept by event ID and rebuilt only
// when what they show changed, so focus, hover and playing media survive each sync.

import { h, formatDay, formatTime, KeyedNodes, patch } from "../dom.js";
import { messageBody, stateText } from "./eventbody.js";
import { eventActions, reactionsRow } from "./actions.js";
import { threadDialog } from "./thread.js";
import { avatar } from "./avatar.js";

const GROUP_MS = 5 * 60 * 1000;

export class Timeline {
  constructor(view) {
    this.view = view;
    this.loading = false;
    this.nodes = new KeyedNodes();
  }

  get app() { return this.view.app; }

  mount(room) {
    this.room = room;
    this.nodes = new KeyedNodes();
    this.list = h("ol", { class: "timeline", "aria-label": "Messages", "aria-live": "polite" });
    this.scroller = h("section", { class: "timeline-scroll", tabindex: "0", "aria-label": "Timeline" }, this.list);
    this.scroller.addEventListener("scroll", () => { if (this.scroller.scrollTop < 80) this.loadOlder(); });
    return this.scroller;
  }

  async loadOlder() {
    const room = this.room;
    if (this.loading || room.atStart || !room.prevBatch) return;
    this.loading = true;
    try {
      const page = await this.app.api.messages(room.id, room.prevBatch);
      if (room === this.room) this.app.store.prepend(room, page);
    } catch {
      /* try again on the next scroll */
    } finally {
      this.loading = false;
    }
  }

  render() {
    const room = this.room;
    const scroller = this.scroller;
    const fromBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight;
    const nodes = [];
    if (room.atStart) nodes.push(this.nodes.get("start", "", () => h("li", { class: "start" }, "This is the beginning of the room.")));
    const readers = this.readersByEvent();
    let prev = null;
    let day = null;
    for (const ev of room.timeline) {
      const evDay = new Date(ev.origin_server_ts).toDateString();
      if (evDay !== day) {
        const label = formatDay(ev.origin_server_ts);
        nodes.push(this.nodes.get(`day:${evDay}`, label, () => h("li", { class: "day", role: "separator" }, label)));
        day = evDay;
        prev = null;
      }
      const seen = readers.get(ev.event_id) || [];
      const isMessage = ev.type === "m.room.message" || (room.isRedacted(ev) && typeof ev.state_key !== "string");
      const grouped = isMessage && prev && prev.sender === ev.sender && ev.origin_server_ts - prev.origin_server_ts < GROUP_MS;
      const signature = isMessage ? this.signature(ev, grouped) : stateText(room, ev);
      const node = this.nodes.get(ev.event_id, signature, () => (isMessage ? this.messageItem(ev, grouped) : this.stateItem(ev)));
      if (node) nodes.push(node);
      // Receipts are a row of their own, so that they come and go without rebuilding the item.
      if (node && seen.length) {
        const text = `Seen by ${seen.join(", ")}`;
        nodes.push(this.nodes.get(`seen:${ev.event_id}`, text, () => h("li", { class: "receipts" }, text)));
      }
      prev = isMessage ? ev : null;
    }
    const focus = this.focusedControl();
    this.nodes.sweep();
    patch(this.list, nodes);
    this.restoreFocus(focus);
    if (fromBottom < 40) scroller.scrollTop = scroller.scrollHeight;
    else scroller.scrollTop = scroller.scrollHeight - scroller.clientHeight - fromBottom;
    // Not enough history to scroll yet: fetch more.
    if (scroller.scrollHeight <= scroller.clientHeight && !room.atStart) this.loadOlder();
  }

  // Everything a message item shows that can change after it was first drawn.
  signature(ev, grouped) {
    const room = this.room;
    const me = this.app.store.myId;
    const reactions = [...(room.reactions.get(ev.event_id) || new Map())].map(([key, senders]) => [key, [...senders.keys()]]);
    const replyTo = (((ev.content || {})["m.relates_to"] || {})["m.in_reply_to"] || {}).event_id;
    const target = typeof replyTo === "string" ? room.byId.get(replyTo) : null;
    const quote = target ? [target.event_id, room.isRedacted(target), (room.edits.get(target.event_id) || {}).event_id] : null;
    return JSON.stringify([grouped, room.isRedacted(ev), (room.edits.get(ev.event_id) || {}).event_id, reactions,
      room.memberName(ev.sender), room.stateContent("m.room.member", ev.sender).avatar_url, quote, room.powerLevel(me), room.threadCount(ev.event_id)]);
  }

  // Which message (and which of its buttons) has the focus, to find it again after a rebuild.
  focusedControl() {
    const active = document.activeElement;
    const item = active && this.list.contains(active) ? active.closest("[data-event-id]") : null;
    return item ? { active, eventId: item.dataset.eventId, label: active === item ? null : active.getAttribute("aria-label") } : null;
  }

  restoreFocus(focus) {
    if (!focus || document.activeElement === focus.active) return;
    const item = this.list.querySelector(`[data-event-id="${CSS.escape(focus.eventId)}"]`);
    if (!item) return;
    // The item first: its actions show only on :focus-within, and a hidden button takes no focus.
    item.focus({ preventScroll: true });
    const target = focus.label ? item.querySelector(`[aria-label="${CSS.escape(focus.label)}"]`) : null;
    if (target) target.focus({ preventScroll: true });
  }

  readersByEvent() {
    const me = this.app.store.myId;
    const out = new Map();
    for (const [userId, eventId] of this.room.receipts) {
      // My own receipts, and a sender's on their own message, say nothing.
      if (userId === me || (this.room.byId.get(eventId) || {}).sender === userId) continue;
      const names = out.get(eventId) || [];
      names.push(this.room.memberName(userId));
      out.set(eventId, names);
    }
    return out;
  }

  stateItem(ev) {
    const text = stateText(this.room, ev);
    return text ? h("li", { class: "state-event", dataset: { eventId: ev.event_id } }, text) : null;
  }

  messageItem(ev, grouped) {
    const room = this.room;
    const mine = ev.sender === this.app.store.myId;
    // Focusable, so that keyboards and taps reach its actions (shown on :focus-within).
    const item = h("li", {
      class: `message${grouped ? " grouped" : ""}${mine ? " mine" : ""}${ev.pending ? " pending" : ""}`, tabindex: "0",
      dataset: { eventId: ev.event_id, sender: ev.sender },
    });
    if (!grouped) {
      item.append(h("p", { class: "sender" },
        avatar(this.app, room.stateContent("m.room.member", ev.sender).avatar_url, room.memberName(ev.sender)),
        h("span", { class: "sender-name", title: ev.sender }, room.memberName(ev.sender)), " ",
        h("time", { datetime: new Date(ev.origin_server_ts).toISOString() }, formatTime(ev.origin_server_ts))));
    }
    const replyTo = ((ev.content || {})["m.relates_to"] || {})["m.in_reply_to"];
    if (replyTo && typeof replyTo.event_id === "string" && !room.isRedacted(ev)) item.append(this.quote(replyTo.event_id));
    item.append(messageBody(room, ev, this.app.media));
    const reactions = reactionsRow(this.view, ev);
    if (reactions) item.append(reactions);
    const replies = room.threadCount(ev.event_id);
    if (replies && !room.isRedacted(ev)) {
      item.append(h("button", { type: "button", class: "thread-link", onclick: () => threadDialog(this.app, room, ev) },
        `${replies} ${replies === 1 ? "reply" : "replies"} in thread`));
    }
    if (!room.isRedacted(ev) && !ev.pending) item.append(eventActions(this.view, ev));
    return item;
  }

  quote(eventId) {
    const target = this.room.byId.get(eventId);
    if (!target) return h("blockquote", { class: "reply-quote" }, "In reply to an earlier message");
    const content = this.room.shownContent(target);
    const text = this.room.isRedacted(target) ? "Message deleted" : String(content.body || "").slice(0, 200);
    return h("blockquote", { class: "reply-quote" },
      h("span", { class: "sender-name" }, this.room.memberName(target.sender)), " ", text);
  }
}
