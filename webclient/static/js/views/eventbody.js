// The content of one event: a message body (sanitised HTML or linkified text, files, images,
// video and audio), or the one-line text of a state change.

import { h } from "../dom.js";
import { sanitizeHtml, linkify } from "../sanitize.js";
import { formatSize, inlineKind, parseMxc } from "../media.js";

const THUMBNAIL = { width: 800, height: 600 };
const FILE_TYPES = new Set(["m.image", "m.video", "m.audio", "m.file"]);

function fileBody(media, content) {
  const info = content.info && typeof content.info === "object" ? content.info : {};
  const name = typeof content.filename === "string" ? content.filename : String(content.body || "file");
  const kind = content.msgtype === "m.file" ? null : inlineKind(info.mimetype);
  const link = h("a", { class: "file", download: name, rel: "noopener noreferrer" }, `📎 ${name}`,
    info.size ? ` (${formatSize(info.size)})` : "");
  media.url(content.url, { download: true }).then((url) => { if (url) link.href = url; });
  if (kind === "image" && content.msgtype === "m.image") {
    const width = Number.isInteger(info.w) && info.w > 0 ? Math.min(info.w, THUMBNAIL.width) : null;
    const height = width && Number.isInteger(info.h) && info.h > 0 ? Math.round((info.h * width) / info.w) : null;
    const img = h("img", { alt: name, width, height, loading: "lazy" });
    media.url(content.url, { thumbnail: THUMBNAIL }).then((url) => url || media.url(content.url))
      .then((url) => { if (url) img.src = url; });
    return h("figure", { class: "media" }, img, h("figcaption", {}, link));
  }
  if ((kind === "video" && content.msgtype === "m.video") || (kind === "audio" && content.msgtype === "m.audio")) {
    const player = h(kind, { controls: true, preload: "metadata", "aria-label": name });
    media.url(content.url).then((url) => { if (url) player.src = url; });
    return h("figure", { class: "media" }, player, h("figcaption", {}, link));
  }
  return link;
}

export function messageBody(room, ev, media) {
  if (room.isRedacted(ev)) return h("div", { class: "body redacted" }, "Message deleted");
  const content = room.shownContent(ev);
  let body = typeof content.body === "string" ? content.body : "";
  // Older clients quote the replied-to message in the body; the quote is drawn from the event.
  if ((content["m.relates_to"] || {})["m.in_reply_to"] && body.startsWith("> ")) {
    body = body.replace(/^(> [^\n]*\n)+\n/, "");
  }
  const el = h("div", { class: `body ${content.msgtype === "m.notice" ? "notice" : ""}` });
  if (FILE_TYPES.has(content.msgtype) && parseMxc(content.url)) {
    el.append(fileBody(media, content));
  } else if (content.format === "org.matrix.custom.html" && typeof content.formatted_body === "string") {
    if (content.msgtype === "m.emote") el.append(`* ${room.memberName(ev.sender)} `);
    el.append(sanitizeHtml(content.formatted_body));
  } else {
    if (content.msgtype === "m.emote") el.append(`* ${room.memberName(ev.sender)} `);
    el.classList.add("plain");
    el.append(linkify(body));
  }
  if (room.edits.has(ev.event_id)) el.append(h("span", { class: "edited" }, " (edited)"));
  return el;
}

export function stateText(room, ev) {
  const who = room.memberName(ev.sender);
  const c = ev.content || {};
  switch (ev.type) {
    case "m.room.member": {
      const target = c.displayname || ev.state_key;
      const prev = (ev.unsigned && ev.unsigned.prev_content) || ev.localPrev || {};
      if (c.membership === "join" && prev.membership === "join") {
        return prev.displayname !== c.displayname ? `${prev.displayname || ev.state_key} is now ${target}` : null;
      }
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
