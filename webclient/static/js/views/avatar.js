// A small round avatar: the picture (a cropped thumbnail, fetched with the access token) or
// the first letter of the name.

import { h } from "../dom.js";
import { parseMxc } from "../media.js";

const SIZE = { width: 64, height: 64, method: "crop" };

export function avatar(app, mxc, name, { size = "small" } = {}) {
  const letter = String(name || "?").replace(/^[@#!]/, "").slice(0, 1).toUpperCase() || "?";
  const el = h("span", { class: `avatar ${size}`, "aria-hidden": "true" }, letter);
  if (parseMxc(mxc)) {
    app.media.url(mxc, { thumbnail: SIZE }).then((url) => {
      if (!url) return;
      el.replaceChildren(h("img", { src: url, alt: "" }));
    });
  }
  return el;
}
