// The message box: Enter sends, Shift+Enter adds a line, Up edits your last message, Escape
// cancels a reply or an edit. Markdown becomes formatted_body; typing notices go out as you type.

import { h } from "../dom.js";
import { markdownToHtml } from "../markdown.js";
import { fileContent } from "../media.js";
import { alertError } from "./roomlist.js";

const TYPING_RESEND_MS = 10000;
const MAX_BODY = 30000;

export class Composer {
  constructor(view) {
    this.view = view;
    this.mode = null; // null | {kind: "reply"|"edit", event}
    this.typingSince = 0;
  }

  get app() { return this.view.app; }

  mount(room) {
    this.stopTyping();
    this.room = room;
    this.mode = null;
    this.input = h("textarea", { id: "composer-input", rows: "1", maxlength: String(MAX_BODY), placeholder: `Message ${room.name(this.app.store.myId)}`, "aria-label": "Message" });
    this.context = h("div", { class: "composer-context", hidden: true });
    const send = h("button", { type: "submit", class: "primary", "aria-label": "Send" }, "Send");
    const files = h("input", { id: "composer-file", type: "file", multiple: true, class: "visually-hidden" });
    files.addEventListener("change", () => { this.sendFiles([...files.files]); files.value = ""; });
    const attach = h("label", { for: "composer-file", class: "attach", title: "Attach files" }, "📎", h("span", { class: "visually-hidden" }, "Attach files"));
    this.uploads = h("ul", { class: "uploads", "aria-live": "polite" });
    this.form = h("form", { class: "composer" }, this.context, this.uploads,
      h("div", { class: "composer-row" }, files, attach, this.input, send));
    this.form.addEventListener("submit", (e) => { e.preventDefault(); this.send(); });
    this.input.addEventListener("keydown", (e) => this.onKey(e));
    this.input.addEventListener("input", () => this.onInput());
    this.input.addEventListener("blur", () => this.stopTyping());
    return this.form;
  }

  focus() { this.input.focus(); }

  // Uploads each file with a progress bar, then sends it as an image, video, audio or file.
  async sendFiles(list) {
    const room = this.room;
    for (const file of list) {
      const bar = h("progress", { max: "1", value: "0", "aria-label": `Uploading ${file.name}` });
      const row = h("li", {}, h("span", {}, file.name), bar);
      this.uploads.append(row);
      try {
        const uri = await this.app.media.upload(file, (done) => { bar.value = done; });
        await this.app.api.send(room.id, "m.room.message", await fileContent(file, uri));
      } catch (err) {
        alertError(err);
      } finally {
        row.remove();
      }
    }
  }

  onKey(e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.send(); }
    else if (e.key === "Escape" && this.mode) { e.preventDefault(); this.cancel(); }
    else if (e.key === "ArrowUp" && !this.input.value) {
      const mine = [...this.room.timeline].reverse()
        .find((ev) => ev.sender === this.app.store.myId && ev.type === "m.room.message" && !ev.pending && !this.room.isRedacted(ev));
      if (mine) { e.preventDefault(); this.edit(mine); }
    }
  }

  onInput() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 200)}px`;
    if (!this.input.value) { this.stopTyping(); return; }
    if (Date.now() - this.typingSince > TYPING_RESEND_MS) {
      this.typingSince = Date.now();
      this.typingRoom = this.room;
      this.app.api.typing(this.room.id, true).catch(() => {});
    }
  }

  stopTyping() {
    if (!this.typingSince || !this.typingRoom) return;
    this.typingSince = 0;
    this.app.api.typing(this.typingRoom.id, false).catch(() => {});
  }

  setMode(mode, label) {
    this.mode = mode;
    this.context.hidden = !mode;
    this.context.replaceChildren();
    if (mode) {
      this.context.append(h("span", {}, label),
        h("button", { type: "button", class: "icon", "aria-label": "Cancel", onclick: () => this.cancel() }, "✕"));
    }
  }

  replyTo(ev) {
    this.setMode({ kind: "reply", event: ev }, `Replying to ${this.room.memberName(ev.sender)}`);
    this.focus();
  }

  edit(ev) {
    const content = this.room.shownContent(ev);
    this.setMode({ kind: "edit", event: ev }, "Editing message");
    this.input.value = typeof content.body === "string" ? content.body : "";
    this.focus();
  }

  cancel() {
    if (this.mode && this.mode.kind === "edit") this.input.value = "";
    this.setMode(null);
  }

  // Users whose ID or display name the text names (for m.mentions).
  mentions(text) {
    const lower = text.toLowerCase();
    return this.room.members().filter((u) => u !== this.app.store.myId && (lower.includes(u.toLowerCase())
      || (this.room.memberName(u).length > 1 && lower.includes(this.room.memberName(u).toLowerCase()))));
  }

  content(text) {
    const content = { msgtype: "m.text", body: text };
    let emote = false;
    if (text.startsWith("/me ")) { content.msgtype = "m.emote"; content.body = text.slice(4); emote = true; }
    const html = markdownToHtml(content.body);
    if (html) { content.format = "org.matrix.custom.html"; content.formatted_body = html; }
    content["m.mentions"] = { user_ids: this.mentions(text) };
    return { content, emote };
  }

  async send() {
    const text = this.input.value.trim();
    if (!text) return;
    const { content } = this.content(text);
    const mode = this.mode;
    if (mode && mode.kind === "reply") {
      content["m.relates_to"] = { "m.in_reply_to": { event_id: mode.event.event_id } };
      if (mode.event.sender !== this.app.store.myId) content["m.mentions"].user_ids.push(mode.event.sender);
    }
    let body = content;
    if (mode && mode.kind === "edit") {
      const { "m.mentions": mentions, ...newContent } = content;
      body = { ...newContent, body: `* ${content.body}`, "m.new_content": newContent, "m.mentions": mentions,
        "m.relates_to": { rel_type: "m.replace", event_id: mode.event.event_id } };
      if (body.formatted_body) body.formatted_body = `* ${body.formatted_body}`;
    }
    this.input.value = "";
    this.onInput();
    this.setMode(null);
    const room = this.room;
    const txnId = this.app.api.txnId();
    // Shown at once (greyed) unless it is an edit, which changes a message in place later.
    const echo = !mode || mode.kind !== "edit";
    if (echo) {
      room.addLocalEcho(txnId, this.app.store.myId, body);
      this.app.store.emit("room", { roomId: room.id });
    }
    try {
      await this.app.api.send(room.id, "m.room.message", body, txnId);
    } catch (err) {
      if (echo) {
        room.removeLocalEcho(txnId);
        this.app.store.emit("room", { roomId: room.id });
      }
      if (room === this.room) this.input.value = text;
      alertError(err);
    }
  }
}
