// The unread count in the tab title, and desktop notifications for mentions and direct chats.

export class Notifier {
  constructor(app) {
    this.app = app;
    this.baseTitle = document.body.dataset.title || document.title;
  }

  updateTitle() {
    const total = this.app.store.totalUnread();
    document.title = total ? `(${total}) ${this.baseTitle}` : this.baseTitle;
  }

  async ask() {
    if (!("Notification" in window)) return;
    await Notification.requestPermission();
  }

  onMessage(room, ev) {
    if (ev.type !== "m.room.message" || !("Notification" in window)) return;
    if (Notification.permission !== "granted") return;
    const store = this.app.store;
    if (!store.isDirect(room.id) && !store.mentionsMe(room, ev)) return;
    if (!document.hidden && this.app.currentRoomId === room.id) return;
    const body = typeof ev.content.body === "string" ? ev.content.body.slice(0, 200) : "";
    const sender = room.memberName(ev.sender);
    const title = store.isDirect(room.id) ? sender : `${sender} in ${room.name(store.myId)}`;
    const note = new Notification(title, { body, tag: room.id });
    note.addEventListener("click", () => { window.focus(); this.app.openRoom(room.id); note.close(); });
  }
}
