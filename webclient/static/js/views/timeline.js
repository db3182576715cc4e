// The timeline of the open room: back-scroll through /messages, day separators, sender
// grouping, message bodies (sanitised), replies, edits, reactions and read receipts.

import { h, clear, formatDay, formatTime } from "../dom.js";
import { sanitizeHtml, linkify } from "../sanitize.js";
import { eventActions, reactionsRow } from "./actions.js";

const GROUP_MS = 5 * 60 * 1000;

export function messageBody(room, ev) {
  if (room.isRedacted(ev)) return h("div", { class: "body redacted" }, "Message deleted");
  const content = room.shownContent(ev);
  const body = typeof content.body === "string" ? content.body : "";
  const el = h("div", { class: `body ${content.msgtype === "m.notice" ? "notice" : ""}` });
  if (content.msgtype === "m.emote") el.append(`* ${room.memberName(ev.sender)} `);
  if (content.format === "org.matrix.custom.html" && typeof content.formatted_body === "string") {
    el.append(sanitizeHtml(content.formatted_body));
  } else {
    el.classList.add("plain");
    el.append(linkify(body));
  }
  if (room.edits.has(ev.event_id)) el.append(h("span", { class: "edited" }, " (edited)"));
  return el;
}

function stateText(room, ev) {
  const who = room.memberName(ev.sender);
  const c = ev.content || {};
  switch (ev.type) {
    case "m.room.member": {
      const target = c.displayname || ev.state_key;
      const prev = (ev.unsigned && ev.unsigned.prev_content) || ev.localPrev || {};
      if (c.membership === "join" && prev.membership === "join") return `${prev.displayname || ev.state_key} is now ${target}`;
      if (c.membership === "join") return `${target} joined`;
      if (c.membership === "invite") return `${who} invited ${target}`;
      if (c.membership === "leave") return ev.sender === ev.state_key ? `${prev.displayname || target} left` : `${who} removed ${ev.state_key}`;
      if (c.membership === "ban") return `${who} banned ${ev.state_key}`;
      return null;
    }
    case "m.room.name": return `${who} named the room “${c.name || ""}”`;
    case "m.room.topic": return `${who} set the topic to “${c.topic || ""}”`;
    case "m.room.join_rules": return `${who} made the room ${c.join_rule === "public" ? "public" : "invite only"}`;
    case "m.room.create": return `${who} created the room`;
    case "m.room.encrypted": return "An encrypted message this client cannot read";
    default: return null;
  }
}

export class Timeline {
  constructor(view) {
    this.view = view;
    this.loading = false;
  }

  get app() { return this.view.app; }

  mount(room) {
    this.room = room;
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
    const atBottom = fromBottom < 40;
    clear(this.list);
    if (room.atStart) this.list.append(h("li", { class: "start" }, "This is the beginning of the room."));
    const readers = this.readersByEvent();
    let prev = null;
    let day = null;
    for (const ev of room.timeline) {
      const evDay = new Date(ev.origin_server_ts).toDateString();
      if (evDay !== day) {
        this.list.append(h("li", { class: "day", role: "separator" }, formatDay(ev.origin_server_ts)));
        day = evDay;
        prev = null;
      }
      const item = ev.type === "m.room.message" || room.isRedacted(ev) && !ev.state_key
        ? this.messageItem(ev, prev) : this.stateItem(ev);
      if (!item) continue;
      const seen = readers.get(ev.event_id);
      if (seen) item.append(h("p", { class: "receipts" }, `Seen by ${seen.join(", ")}`));
      this.list.append(item);
      prev = ev.type === "m.room.message" ? ev : null;
    }
    if (atBottom) scroller.scrollTop = scroller.scrollHeight;
    else scroller.scrollTop = scroller.scrollHeight - scroller.clientHeight - fromBottom;
    // Not enough history to scroll yet: fetch more.
    if (scroller.scrollHeight <= scroller.clientHeight && !room.atStart) this.loadOlder();
  }

  readersByEvent() {
    const me = this.app.store.myId;
    const out = new Map();
    for (const [userId, eventId] of this.room.receipts) {
      if (userId === me) continue;
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

  messageItem(ev, prev) {
    const room = this.room;
    const grouped = prev && prev.sender === ev.sender && ev.origin_server_ts - prev.origin_server_ts < GROUP_MS;
    const mine = ev.sender === this.app.store.myId;
    const item = h("li", {
      class: `message${grouped ? " grouped" : ""}${mine ? " mine" : ""}`,
      dataset: { eventId: ev.event_id, sender: ev.sender },
    });
    if (!grouped) {
      item.append(h("p", { class: "sender" },
        h("span", { class: "sender-name", title: ev.sender }, room.memberName(ev.sender)), " ",
        h("time", { datetime: new Date(ev.origin_server_ts).toISOString() }, formatTime(ev.origin_server_ts))));
    }
    const replyTo = ((ev.content || {})["m.relates_to"] || {})["m.in_reply_to"];
    if (replyTo && typeof replyTo.event_id === "string" && !room.isRedacted(ev)) item.append(this.quote(replyTo.event_id));
    item.append(messageBody(room, ev));
    const reactions = reactionsRow(this.view, ev);
    if (reactions) item.append(reactions);
    if (!room.isRedacted(ev)) item.append(eventActions(this.view, ev));
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
