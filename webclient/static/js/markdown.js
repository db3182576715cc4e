// A small markdown subset to formatted_body HTML: **bold**, *italic*, ~~strike~~, `code`,
// ``` code blocks ```, [links](https://...), > quotes and - lists. Everything is escaped first,
// so the output only ever holds the tags made here. Returns null when the text has no markup.

import { safeHref } from "./sanitize.js";

function escapeHtml(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

function unescapeHtml(text) {
  return text.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

// Code spans, link targets and bare URLs are set aside first, so that emphasis never reaches
// inside them; each comes back as a placeholder's value at the end.
function inline(text) {
  const kept = [];
  const keep = (html) => { kept.push(html); return `\u0000${kept.length - 1}\u0000`; };
  const anchor = (url) => {
    const href = safeHref(unescapeHtml(url));
    return href ? `<a href="${escapeHtml(href)}">` : null;
  };
  const out = escapeHtml(text.replace(/\u0000/g, ""))
    .replace(/`([^`\n]+)`/g, (_, code) => keep(`<code>${code}</code>`))
    .replace(/\[([^\]\n]+)\]\(([^)\s]+)\)/g, (whole, label, url) => {
      const open = anchor(url);
      return open ? `${keep(open)}${label}${keep("</a>")}` : whole;
    })
    .replace(/\bhttps?:\/\/[^\s<>"\u0000]+[^\s<>".,;:!?)\]\u0000]/g, (url) => {
      const open = anchor(url);
      return open ? keep(`${open}${url}</a>`) : url;
    })
    .replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>")
    .replace(/__([^_\n]+)__/g, "<strong>$1</strong>")
    .replace(/(^|[^\w*])\*([^*\n]+)\*(?!\w)/g, "$1<em>$2</em>")
    .replace(/(^|[^\w_])_([^_\n]+)_(?!\w)/g, "$1<em>$2</em>")
    .replace(/~~([^~\n]+)~~/g, "<del>$1</del>");
  return out.replace(/\u0000(\d+)\u0000/g, (_, i) => kept[Number(i)]);
}

function blocks(lines) {
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.startsWith("```")) {
      const body = [];
      for (i += 1; i < lines.length && !lines[i].startsWith("```"); i += 1) body.push(lines[i]);
      i += 1;
      out.push(`<pre><code>${escapeHtml(body.join("\n"))}</code></pre>`);
    } else if (/^>\s?/.test(line)) {
      const quoted = [];
      for (; i < lines.length && /^>\s?/.test(lines[i]); i += 1) quoted.push(lines[i].replace(/^>\s?/, ""));
      out.push(`<blockquote>${blocks(quoted)}</blockquote>`);
    } else if (/^[-*]\s+/.test(line)) {
      const items = [];
      for (; i < lines.length && /^[-*]\s+/.test(lines[i]); i += 1) {
        items.push(`<li>${inline(lines[i].replace(/^[-*]\s+/, ""))}</li>`);
      }
      out.push(`<ul>${items.join("")}</ul>`);
    } else {
      const para = [];
      for (; i < lines.length && lines[i] && !/^(```|>|[-*]\s)/.test(lines[i]); i += 1) para.push(inline(lines[i]));
      if (para.length) out.push(para.join("<br>"));
      else i += 1;
      if (i < lines.length && !lines[i]) out.push("<br>");
    }
  }
  return out.join("");
}

export function markdownToHtml(text) {
  const html = blocks(String(text).replace(/\r\n?/g, "\n").split("\n")).replace(/(<br>)+$/, "");
  const plain = escapeHtml(text).replace(/\n/g, "<br>");
  return html === plain ? null : html;
}
