// Building DOM nodes from code: text always goes in as text nodes, never as markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value") el.value = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
}

export function formatTime(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function formatDay(ts) {
  const day = new Date(ts);
  const today = new Date();
  const yesterday = new Date(today.getTime() - 86400000);
  if (day.toDateString() === today.toDateString()) return "Today";
  if (day.toDateString() === yesterday.toDateString()) return "Yesterday";
  return day.toLocaleDateString([], { weekday: "long", year: "numeric", month: "long", day: "numeric" });
}

// A modal dialog built from a <dialog> element; resolves when it closes.
export function modal(title, body, { onClose = null } = {}) {
  const closeBtn = h("button", { type: "button", class: "icon", "aria-label": "Close" }, "✕");
  const dlg = h("dialog", { class: "modal", "aria-label": title },
    h("header", {}, h("h2", {}, title), closeBtn), body);
  closeBtn.addEventListener("click", () => dlg.close());
  dlg.addEventListener("close", () => { dlg.remove(); if (onClose) onClose(); });
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}

// A short message in the page's live region (errors and confirmations).
export function toast(message) {
  const el = document.getElementById("toast");
  if (!el) return;
  el.textContent = message;
  el.hidden = false;
  clearTimeout(el.timer);
  el.timer = setTimeout(() => { el.hidden = true; }, 6000);
}

// Makes parent's children exactly `nodes`, moving only what moved, so that unchanged nodes
// keep their focus, hover and playing media.
export function patch(parent, nodes) {
  // Stale children go first, so that kept ones already in order are never moved: moving a
  // node takes its focus away (and restarts its media).
  const keep = new Set(nodes);
  let cur = parent.firstChild;
  for (const node of nodes) {
    while (cur && !keep.has(cur)) { const next = cur.nextSibling; cur.remove(); cur = next; }
    if (node === cur) { cur = cur.nextSibling; continue; }
    parent.insertBefore(node, cur);
  }
  while (cur) { const next = cur.nextSibling; cur.remove(); cur = next; }
}

// Nodes kept by key and rebuilt only when their signature changes.
export class KeyedNodes {
  constructor() { this.items = new Map(); this.used = new Map(); }

  get(key, signature, build) {
    const known = this.items.get(key);
    const node = known && known.signature === signature ? known.node : build();
    this.used.set(key, { signature, node });
    return node;
  }

  // Forgets the nodes not asked for since the last call.
  sweep() { this.items = this.used; this.used = new Map(); }
}
