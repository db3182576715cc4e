// Files in messages: uploads with progress, and authenticated downloads turned into blob URLs
// (an <img> cannot send the access token). Only a few well-known types are shown inline; any
// other file is offered as a download of type application/octet-stream, so that opening it
// can never run it as a page of this origin.

const MXC = /^mxc:\/\/([A-Za-z0-9.\-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?)\/([A-Za-z0-9_-]+)$/;
const INLINE = {
  image: new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]),
  video: new Set(["video/mp4", "video/webm", "video/ogg"]),
  audio: new Set(["audio/mpeg", "audio/ogg", "audio/wav", "audio/webm", "audio/mp4", "audio/aac", "audio/flac"]),
};
const MAX_CACHED = 200;

export function parseMxc(uri) {
  const match = typeof uri === "string" ? MXC.exec(uri) : null;
  return match ? { server: match[1], mediaId: match[2] } : null;
}

export function inlineKind(mimetype) {
  for (const [kind, types] of Object.entries(INLINE)) if (types.has(mimetype)) return kind;
  return null;
}

export function formatSize(bytes) {
  if (typeof bytes !== "number" || !Number.isFinite(bytes) || bytes < 0) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export class Media {
  constructor(api) {
    this.api = api;
    this.urls = new Map(); // cache key -> Promise<blob URL>
  }

  // Resolves to a blob URL for the file (or its thumbnail); null when it cannot be had.
  url(mxc, { thumbnail = null, download = false } = {}) {
    const parsed = parseMxc(mxc);
    if (!parsed) return Promise.resolve(null);
    const key = `${mxc}|${thumbnail ? `${thumbnail.width}x${thumbnail.height}${thumbnail.method || ""}` : ""}|${download}`;
    if (!this.urls.has(key)) {
      if (this.urls.size >= MAX_CACHED) this.evictOldest();
      this.urls.set(key, this.fetchBlob(parsed, thumbnail, download));
    }
    return this.urls.get(key);
  }

  evictOldest() {
    const [key, promise] = this.urls.entries().next().value;
    this.urls.delete(key);
    promise.then((url) => { if (url) URL.revokeObjectURL(url); });
  }

  async fetchBlob({ server, mediaId }, thumbnail, download) {
    const base = `/_matrix/client/v1/media/${thumbnail ? "thumbnail" : "download"}/${encodeURIComponent(server)}/${encodeURIComponent(mediaId)}`;
    const query = thumbnail ? `?width=${thumbnail.width}&height=${thumbnail.height}&method=${thumbnail.method || "scale"}` : "";
    try {
      const resp = await fetch(base + query, { headers: { Authorization: `Bearer ${this.api.session.access_token}` } });
      if (!resp.ok) return null;
      let blob = await resp.blob();
      if (download || !inlineKind(blob.type)) blob = new Blob([blob], { type: "application/octet-stream" });
      return URL.createObjectURL(blob);
    } catch {
      return null;
    }
  }

  // Uploads a file with progress reports (0..1); resolves to its mxc:// URI.
  upload(file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `/_matrix/media/v3/upload?filename=${encodeURIComponent(file.name)}`);
      xhr.setRequestHeader("Authorization", `Bearer ${this.api.session.access_token}`);
      xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
      xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); });
      xhr.addEventListener("load", () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch { body = null; }
        if (xhr.status === 200 && body && typeof body.content_uri === "string") resolve(body.content_uri);
        else reject(new Error((body && body.error) || `Upload failed (HTTP ${xhr.status})`));
      });
      xhr.addEventListener("error", () => reject(new Error("Upload failed: no connection")));
      xhr.send(file);
    });
  }

  revokeAll() {
    for (const promise of this.urls.values()) promise.then((url) => { if (url) URL.revokeObjectURL(url); });
    this.urls.clear();
  }
}

// The content of a message carrying this file: m.image, m.video, m.audio or m.file.
export async function fileContent(file, contentUri) {
  const info = { mimetype: file.type || "application/octet-stream", size: file.size };
  const kind = inlineKind(file.type);
  let msgtype = "m.file";
  if (kind === "image") {
    msgtype = "m.image";
    try {
      const bitmap = await createImageBitmap(file);
      info.w = bitmap.width;
      info.h = bitmap.height;
      bitmap.close();
    } catch { /* size unknown */ }
  } else if (kind === "video") msgtype = "m.video";
  else if (kind === "audio") msgtype = "m.audio";
  return { msgtype, body: file.name, filename: file.name, url: contentUri, info };
}
