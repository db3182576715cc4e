// The open room: header with its actions, the timeline, who is typing, and the composer.

import { h, clear } from "../dom.js";
import { Timeline } from "./timeline.js";
import { Composer } from "./composer.js";
import { membersDialog, settingsDialog, searchDialog } from "./roompanels.js";
import { alertError } from "./roomlist.js";

export class RoomView {
  constructor(app) {
    this.app = app;
    this.room = null;
    this.timeline = new Timeline(this);
    this.composer = new Composer(this);
    // Coming back to the tab reads what arrived meanwhile.
    document.addEventListener("visibilitychange", () => { if (this.room) this.markRead(); });
  }

  show(room) {
    this.room = room;
    const main = this.app.main;
    clear(main);
    if (!room) {
      main.append(h("p", { class: "empty-pane" }, "Pick a room, or start a new one."));
      return;
    }
    this.title = h("h2", { class: "room-title" });
    this.topic = h("p", { class: "room-topic" });
    this.typing = h("p", { class: "typing", "aria-live": "polite" });
    const leave = async () => {
      if (!window.confirm(`Leave ${room.name(this.app.store.myId)}?`)) return;
      try { await this.app.api.leave(room.id); } catch (err) { alertError(err); }
    };
    main.append(
      h("header", { class: "room-header" },
        h("button", { type: "button", class: "icon back", "aria-label": "Back to rooms", onclick: () => this.app.openRoom(null) }, "←"),
        h("div", { class: "room-heading" }, this.title, this.topic),
        h("div", { class: "room-actions" },
          h("button", { type: "button", onclick: () => searchDialog(this.app, room) }, "Search"),
          h("button", { type: "button", onclick: () => membersDialog(this.app, room) }, "Members"),
          h("button", { type: "button", onclick: () => settingsDialog(this.app, room) }, "Settings"),
          h("button", { type: "button", onclick: leave }, "Leave"))),
      this.timeline.mount(room),
      this.typing,
      this.composer.mount(room));
    this.refresh();
    this.composer.focus();
  }

  refresh() {
    const room = this.room;
    if (!room) return;
    const me = this.app.store.myId;
    this.title.textContent = room.name(me);
    const topic = room.stateContent("m.room.topic").topic;
    this.topic.textContent = typeof topic === "string" ? topic : "";
    const typers = room.typing.filter((u) => u !== me).map((u) => room.memberName(u));
    this.typing.textContent = typers.length ? `${typers.join(", ")} ${typers.length > 1 ? "are" : "is"} typing…` : "";
    this.timeline.render();
    this.markRead();
  }

  // Sends a read receipt for the newest event when the room is in front of the user.
  markRead() {
    const room = this.room;
    const last = room && room.lastEvent();
    if (!last || document.visibilityState !== "visible") return;
    const me = this.app.store.myId;
    if (room.receipts.get(me) === last.event_id || last.event_id.startsWith("~")) return;
    room.receipts.set(me, last.event_id);
    if (room.serverUnread) room.serverUnread = { notification_count: 0, highlight_count: 0 };
    this.app.api.receipt(room.id, last.event_id).catch(() => {});
    this.app.renderRooms();
  }

  stop() { this.composer.stopTyping(); }
}
