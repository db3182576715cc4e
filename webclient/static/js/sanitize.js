// An allowlist sanitiser for formatted_body. The untrusted HTML is parsed by DOMParser into an
// inert document (no scripts run, nothing loads), then walked, and only allowed elements and
// attributes are copied into fresh nodes of the live document. Nothing untrusted is ever
// assigned to innerHTML.

const ALLOWED_TAGS = new Set([
  "font", "del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol", "sup",
  "sub", "li", "b", "i", "u", "strong", "em", "strike", "s", "code", "hr", "br", "div", "table",
  "thead", "tbody", "tr", "th", "td", "caption", "pre", "span", "details", "summary",
]);
// Elements dropped together with everything inside them.
const DROP_WITH_CONTENT = new Set(["script", "style", "mx-reply", "template", "iframe", "object",
  "embed", "noscript", "svg", "math", "head", "title", "textarea", "select", "img", "video", "audio"]);
const SAFE_SCHEMES = new Set(["http:", "https:", "mailto:"]);
const MAX_DEPTH = 50;
const MAX_NODES = 5000;

export function safeHref(raw) {
  try {
    const url = new URL(raw, "https://invalid.invalid/");
    if (!SAFE_SCHEMES.has(url.protocol) || url.hostname === "invalid.invalid") return null;
    return url.href;
  } catch {
    return null;
  }
}

function copyAttributes(src, dst, tag) {
  if (tag === "a") {
    const href = safeHref(src.getAttribute("href") || "");
    if (href) {
      dst.setAttribute("href", href);
      dst.setAttribute("target", "_blank");
      dst.setAttribute("rel", "noopener noreferrer");
    }
  } else if (tag === "ol") {
    const start = Number.parseInt(src.getAttribute("start") || "", 10);
    if (Number.isFinite(start)) dst.setAttribute("start", String(start));
  } else if (tag === "code") {
    const cls = src.getAttribute("class") || "";
    if (/^language-[\w-]{1,30}$/.test(cls)) dst.className = cls;
  } else if (tag === "span" && src.hasAttribute("data-mx-spoiler")) {
    dst.className = "spoiler";
  }
}

function walk(src, dst, depth, budget) {
  for (const node of src.childNodes) {
    if (--budget.nodes < 0) return;
    if (node.nodeType === Node.TEXT_NODE) {
      dst.append(document.createTextNode(node.nodeValue));
      continue;
    }
    if (node.nodeType !== Node.ELEMENT_NODE) continue;
    const tag = node.localName;
    if (DROP_WITH_CONTENT.has(tag)) continue;
    if (!ALLOWED_TAGS.has(tag) || depth >= MAX_DEPTH) {
      walk(node, dst, depth + 1, budget); // keep the text, lose the element
      continue;
    }
    // A link to anything but http(s) or mailto is kept as its text only.
    const unsafeLink = tag === "a" && !safeHref(node.getAttribute("href") || "");
    const el = document.createElement(tag === "font" || unsafeLink ? "span" : tag);
    copyAttributes(node, el, tag);
    walk(node, el, depth + 1, budget);
    dst.append(el);
  }
}

export function sanitizeHtml(html) {
  const parsed = new DOMParser().parseFromString(`<body>${String(html)}</body>`, "text/html");
  const out = document.createDocumentFragment();
  walk(parsed.body, out, 0, { nodes: MAX_NODES });
  return out;
}

// Plain text with its http(s) links made clickable, built from text and <a> nodes only.
export function linkify(text) {
  const out = document.createDocumentFragment();
  const re = /\bhttps?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]]/g;
  let last = 0;
  for (const match of String(text).matchAll(re)) {
    out.append(document.createTextNode(text.slice(last, match.index)));
    const href = safeHref(match[0]);
    if (href) {
      const a = document.createElement("a");
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.textContent = match[0];
      out.append(a);
    } else {
      out.append(document.createTextNode(match[0]));
    }
    last = match.index + match[0].length;
  }
  out.append(document.createTextNode(text.slice(last)));
  return out;
}
