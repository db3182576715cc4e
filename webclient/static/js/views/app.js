// The signed-in screen: the sidebar (account menu, invites, rooms) and the open room.

import { h, clear } from "../dom.js";
import { Store } from "../store.js";
import { Sync } from "../sync.js";
import { Notifier } from "../notify.js";
import { Media } from "../media.js";
import { RoomList } from "./roomlist.js";
import { RoomView } from "./roomview.js";
import { createRoomDialog, directoryDialog, directChatDialog, profileDialog } from "./dialogs.js";

export class App {
  constructor(root, api, onLoggedOut) {
    this.root = root;
    this.api = api;
    this.onLoggedOut = onLoggedOut;
    this.store = new Store(api.session.user_id);
    this.media = new Media(api);
    this.currentRoomId = null;
    this.done = false;
  }

  start() {
    clear(this.root);
    const me = this.api.session.user_id;
    this.banner = document.getElementById("banner");
    this.list = h("nav", { class: "room-list", "aria-label": "Rooms" });
    this.main = h("main", { class: "room-pane", "aria-label": "Room" },
      h("p", { class: "empty-pane" }, "Pick a room, or start a new one."));
    const menu = h("div", { class: "menu" },
      h("button", { type: "button", onclick: () => createRoomDialog(this) }, "New room"),
      h("button", { type: "button", onclick: () => directoryDialog(this) }, "Browse rooms"),
      h("button", { type: "button", onclick: () => directChatDialog(this) }, "Start chat"),
      h("button", { type: "button", onclick: () => profileDialog(this) }, "Profile"),
      this.notifyButton = h("button", { type: "button", onclick: () => this.askNotifications(), hidden: !this.canAskNotifications() }, "Enable notifications"),
      h("button", { type: "button", onclick: () => this.logout() }, "Log out"));
    this.sidebar = h("aside", { class: "sidebar" },
      h("header", {}, h("span", { class: "me", title: me }, me)), menu, this.list);
    this.layout = h("div", { class: "layout" }, this.sidebar, this.main);
    this.root.append(this.layout);
    this.roomList = new RoomList(this.list, this);
    this.roomView = new RoomView(this);
    this.notifier = new Notifier(this);
    this.store.addEventListener("rooms", () => this.renderRooms());
    this.store.addEventListener("room", (e) => {
      if (e.detail.roomId === this.currentRoomId) this.roomView.refresh();
    });
    this.store.addEventListener("message", (e) => this.notifier.onMessage(e.detail.room, e.detail.event));
    this.sync = new Sync(this.api, this.store, {
      onStatus: (online) => { this.banner.hidden = online; },
      onLoggedOut: () => this.loggedOut(),
    });
    this.sync.start();
    this.renderRooms();
  }

  canAskNotifications() { return "Notification" in window && Notification.permission === "default"; }

  async askNotifications() {
    await this.notifier.ask();
    this.notifyButton.hidden = !this.canAskNotifications();
  }

  renderRooms() {
    this.roomList.render();
    this.notifier.updateTitle();
    if (this.currentRoomId && !this.store.rooms.has(this.currentRoomId)) this.openRoom(null);
  }

  openRoom(roomId) {
    this.currentRoomId = roomId;
    this.layout.classList.toggle("room-open", Boolean(roomId));
    this.roomView.show(roomId ? this.store.rooms.get(roomId) : null);
    this.renderRooms();
  }

  // Opens a room as soon as the sync has brought it in.
  openWhenSynced(roomId) {
    if (this.store.rooms.has(roomId)) { this.openRoom(roomId); return; }
    const listener = () => {
      if (!this.store.rooms.has(roomId)) return;
      this.store.removeEventListener("rooms", listener);
      this.openRoom(roomId);
    };
    this.store.addEventListener("rooms", listener);
  }

  async logout() {
    try { await this.api.logout(); } catch { /* the token may already be gone */ }
    this.loggedOut();
  }

  loggedOut() {
    if (this.done) return;
    this.done = true;
    this.sync.stop();
    this.roomView.stop();
    this.media.revokeAll();
    this.banner.hidden = true;
    document.title = document.body.dataset.title || "Matrix";
    this.onLoggedOut();
  }
}
