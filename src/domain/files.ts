/**
 * What an uploaded file is, judged from its bytes and never from what the client claims: the type
 * sniffed from magic bytes, an image's dimensions read from its header (so the page can reserve its
 * box before it loads), JPEG (and PNG) location metadata removed, and the file name made safe to
 * show and to put in a `Content-Disposition` header (RFC 6266, RFC 5987 `filename*`). No Bun, no
 * Elysia: plain bytes in, plain values out.
 *
 * Only PNG, JPEG, GIF and WebP are ever shown inline. Everything else (SVG and HTML included, which
 * can carry script) is accepted and served as an attachment.
 */

/** The raster types the page shows inline; anything else is a download. */
export const INLINE_TYPES: ReadonlySet<string> = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

/**
 * An image larger than this (width × height) is served as a download: decoding it would take
 * gigabytes in the reader's browser (a "pixel flood").
 */
export const MAX_INLINE_PIXELS = 100_000_000;

/** Longest file name kept, in characters (the extension is kept when it is cut). */
export const MAX_FILE_NAME_LENGTH = 200;

/** Whether a file of this type and size is shown inline: a known raster type, not a pixel flood. */
export const showsInline = (
  type: string,
  width: number | null | undefined,
  height: number | null | undefined,
): boolean => INLINE_TYPES.has(type) && !!width && !!height && width * height <= MAX_INLINE_PIXELS;

export interface Sniffed {
  /** The type the bytes say (`application/octet-stream` when nothing is recognised). */
  type: string;
  /** Shown inline: a known raster image whose dimensions were read (and not a pixel flood). */
  inline: boolean;
  width?: number;
  height?: number;
}

const ascii = (bytes: Uint8Array, at: number, text: string): boolean => {
  if (at + text.length > bytes.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
};
const be16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;
const le16 = (b: Uint8Array, at: number): number => b[at]! | (b[at + 1]! << 8);
const be32 = (b: Uint8Array, at: number): number =>
  ((b[at]! << 24) >>> 0) + (b[at + 1]! << 16) + (b[at + 2]! << 8) + b[at + 3]!;
const le24 = (b: Uint8Array, at: number): number => b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const isPng = (b: Uint8Array): boolean => b.length >= 8 && PNG_SIGNATURE.every((byte, i) => b[i] === byte);
export const isJpeg = (b: Uint8Array): boolean => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

/** A JPEG that cannot be walked segment by segment (its metadata could not be removed). */
export class MalformedImageError extends Error {}

/** The dimensions of an image of a known raster type, or undefined when its header is not readable. */
const dimensions = (b: Uint8Array, type: string): { width: number; height: number } | undefined => {
  if (type === "image/png") {
    if (b.length < 24 || !ascii(b, 12, "IHDR")) return undefined;
    return { width: be32(b, 16), height: be32(b, 20) };
  }
  if (type === "image/gif") return b.length < 10 ? undefined : { width: le16(b, 6), height: le16(b, 8) };
  if (type === "image/webp") {
    if (ascii(b, 12, "VP8 ") && b.length >= 30 && b[23] === 0x9d && b[24] === 0x01 && b[25] === 0x2a)
      return { width: le16(b, 26) & 0x3fff, height: le16(b, 28) & 0x3fff };
    if (ascii(b, 12, "VP8L") && b.length >= 25 && b[20] === 0x2f) {
      const [b0, b1, b2, b3] = [b[21]!, b[22]!, b[23]!, b[24]!];
      return {
        width: 1 + (((b1 & 0x3f) << 8) | b0),
        height: 1 + (((b3 & 0x0f) << 10) | (b2 << 2) | ((b1 & 0xc0) >> 6)),
      };
    }
    if (ascii(b, 12, "VP8X") && b.length >= 30) return { width: 1 + le24(b, 24), height: 1 + le24(b, 27) };
    return undefined;
  }
  if (type === "image/jpeg") {
    let size: { width: number; height: number } | undefined;
    let orientation = 1;
    walkJpeg(b, (marker, start, end) => {
      if (marker === 0xe1) orientation = exifOrientation(b.subarray(start + 4, end)) ?? orientation;
      // SOF0–SOF15 carry the frame's size (C4 DHT, C8 JPG and CC DAC share the range, and do not).
      if (size === undefined && marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        if (end - start < 9) throw new MalformedImageError("short frame header");
        size = { height: be16(b, start + 5), width: be16(b, start + 7) };
      }
    });
    // Orientations 5–8 turn the picture a quarter: the browser shows it with width and height swapped.
    if (size && orientation >= 5 && orientation <= 8) return { width: size.height, height: size.width };
    return size;
  }
  return undefined;
};

/**
 * Calls `segment(marker, start, end)` for each marker segment of a JPEG's header, up to the start of
 * scan (`start` is the segment's 0xFF, `end` one past its last byte); returns where the scan data
 * begins (the SOS marker), or the length when there is none. Throws MalformedImageError when a
 * segment's length runs past the end or a marker is missing.
 */
const walkJpeg = (b: Uint8Array, segment: (marker: number, start: number, end: number) => void): number => {
  let at = 2;
  while (at < b.length) {
    if (b[at] !== 0xff) throw new MalformedImageError(`no marker at ${at}`);
    let markerAt = at;
    // Fill bytes (0xFF repeated) may stand before a marker.
    while (markerAt + 1 < b.length && b[markerAt + 1] === 0xff) markerAt++;
    const marker = b[markerAt + 1];
    if (marker === undefined) throw new MalformedImageError("truncated marker");
    if (marker === 0xda || marker === 0xd9) return markerAt;
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      at = markerAt + 2;
      continue;
    }
    if (markerAt + 4 > b.length) throw new MalformedImageError("truncated segment");
    const end = markerAt + 2 + be16(b, markerAt + 2);
    if (end > b.length || end < markerAt + 4) throw new MalformedImageError("segment past the end");
    segment(marker, markerAt, end);
    at = end;
  }
  return b.length;
};

/** The Orientation tag (1–8) of an APP1 payload that is Exif, if it has one. */
const exifOrientation = (payload: Uint8Array): number | undefined => {
  if (!ascii(payload, 0, "Exif\0\0")) return undefined;
  const tiff = payload.subarray(6);
  if (tiff.length < 8) return undefined;
  const little = ascii(tiff, 0, "II");
  if (!little && !ascii(tiff, 0, "MM")) return undefined;
  const u16 = (at: number) => (little ? le16(tiff, at) : be16(tiff, at));
  const u32 = (at: number) => (little ? (le16(tiff, at) | (le16(tiff, at + 2) << 16)) >>> 0 : be32(tiff, at));
  const ifd = u32(4);
  if (ifd + 2 > tiff.length) return undefined;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.length) return undefined;
    if (u16(entry) === 0x0112) {
      const value = u16(entry + 8);
      return value >= 1 && value <= 8 ? value : undefined;
    }
  }
  return undefined;
};

/** A minimal Exif APP1 segment holding only an Orientation tag (big-endian TIFF, one IFD entry). */
const orientationSegment = (orientation: number): Uint8Array =>
  Uint8Array.from([
    0xff,
    0xe1,
    0x00,
    0x22, // APP1, length 34
    ...[0x45, 0x78, 0x69, 0x66, 0x00, 0x00], // "Exif\0\0"
    ...[0x4d, 0x4d, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x08], // "MM", 42, IFD0 at 8
    0x00,
    0x01, // one entry
    ...[0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, orientation, 0x00, 0x00], // Orientation, SHORT, 1
    ...[0x00, 0x00, 0x00, 0x00], // no next IFD
  ]);

/**
 * A JPEG without its metadata segments that can say where it was taken: every APP1 (Exif, with its
 * GPS IFD, and XMP) and APP13 (Photoshop/IPTC) segment is dropped. The Orientation tag alone is put
 * back (in a minimal Exif segment of its own), so a phone's portrait photo still stands upright.
 * Everything else (JFIF, ICC profiles, tables, the scan data) is copied unchanged.
 */
export const stripJpegMetadata = (b: Uint8Array): Uint8Array => {
  const kept: Array<[number, number]> = [];
  let orientation: number | undefined;
  let afterApp0 = 2;
  const scan = walkJpeg(b, (marker, start, end) => {
    if (marker === 0xe1) {
      orientation = exifOrientation(b.subarray(start + 4, end)) ?? orientation;
      return;
    }
    if (marker === 0xed) return;
    if (marker === 0xe0 && kept.length === 0) afterApp0 = end;
    kept.push([start, end]);
  });
  const parts: Uint8Array[] = [b.subarray(0, 2)];
  let inserted = orientation === undefined || orientation === 1;
  for (const [start, end] of kept) {
    if (!inserted && start >= afterApp0) {
      parts.push(orientationSegment(orientation!));
      inserted = true;
    }
    parts.push(b.subarray(start, end));
  }
  if (!inserted) parts.push(orientationSegment(orientation!));
  parts.push(b.subarray(scan));
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

/**
 * A PNG without its `eXIf` chunk (Exif, GPS included) and its XMP (`iTXt` "XML:com.adobe.xmp").
 * Chunks carry their own lengths and CRCs, so the others are copied unchanged.
 */
export const stripPngMetadata = (b: Uint8Array): Uint8Array => {
  const parts: Uint8Array[] = [b.subarray(0, 8)];
  let at = 8;
  let dropped = false;
  while (at + 12 <= b.length) {
    const end = at + 12 + be32(b, at);
    if (end > b.length) break;
    const drop = ascii(b, at + 4, "eXIf") || (ascii(b, at + 4, "iTXt") && ascii(b, at + 8, "XML:com.adobe.xmp\0"));
    if (drop) dropped = true;
    else parts.push(b.subarray(at, end));
    at = end;
  }
  if (!dropped) return b;
  parts.push(b.subarray(at));
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
};

/** The start of a text file, as far as sniffing needs it (lower case, without a BOM and leading space). */
const textStart = (b: Uint8Array): string | undefined => {
  const head = b.subarray(0, 1024);
  if (head.includes(0)) return undefined;
  const text = new TextDecoder("utf-8").decode(head);
  // Not UTF-8 (a character cut at the end of the 1 KiB looked at is no sign of that).
  if (text.slice(0, head.length < b.length ? -3 : undefined).includes("\uFFFD")) return undefined;
  return text
    .replace(/^\uFEFF/, "")
    .trimStart()
    .toLowerCase();
};

/** Types recognised by magic bytes at the start, besides the inline images. */
const MAGIC: ReadonlyArray<[type: string, test: (b: Uint8Array) => boolean]> = [
  ["application/pdf", (b) => ascii(b, 0, "%PDF-")],
  ["application/zip", (b) => ascii(b, 0, "PK\x03\x04")],
  ["application/gzip", (b) => b[0] === 0x1f && b[1] === 0x8b],
  ["video/mp4", (b) => ascii(b, 4, "ftyp")],
  ["audio/mpeg", (b) => ascii(b, 0, "ID3")],
  ["audio/ogg", (b) => ascii(b, 0, "OggS")],
  ["video/webm", (b) => b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3],
  ["image/bmp", (b) => ascii(b, 0, "BM")],
  ["image/tiff", (b) => ascii(b, 0, "II*\0") || ascii(b, 0, "MM\0*")],
];

/**
 * What the bytes are. A known raster image (PNG, JPEG, GIF, WebP) with readable dimensions is
 * `inline`; SVG, HTML, XML, text and the other types are recognised to be named, never to be shown.
 */
export const sniff = (b: Uint8Array): Sniffed => {
  let raster: string | undefined;
  if (isPng(b)) raster = "image/png";
  else if (isJpeg(b)) raster = "image/jpeg";
  else if (ascii(b, 0, "GIF87a") || ascii(b, 0, "GIF89a")) raster = "image/gif";
  else if (ascii(b, 0, "RIFF") && ascii(b, 8, "WEBP")) raster = "image/webp";
  if (raster) {
    const size = dimensions(b, raster);
    if (!size || size.width < 1 || size.height < 1) return { type: "application/octet-stream", inline: false };
    return {
      type: raster,
      inline: showsInline(raster, size.width, size.height),
      width: size.width,
      height: size.height,
    };
  }
  for (const [type, test] of MAGIC) if (test(b)) return { type, inline: false };
  const text = textStart(b);
  if (text === undefined) return { type: "application/octet-stream", inline: false };
  if (/^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*(<!doctype svg[^>]*>\s*)?<svg[\s>]/.test(text))
    return { type: "image/svg+xml", inline: false };
  if (/^(<!--[\s\S]*?-->\s*)*<(!doctype html|html|head|body|script|iframe|div|p|a|img|style|title|svg)[\s>]/.test(text))
    return { type: "text/html", inline: false };
  if (text.startsWith("<?xml")) return { type: "application/xml", inline: false };
  return { type: "text/plain", inline: false };
};

/** Characters a file name never keeps: controls, bidi controls, invisible format characters. */
const UNSAFE_NAME = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u2028\u2029]/gu;

/**
 * A file name as shown and as sent back in Content-Disposition: NFC, no control, bidi or invisible
 * characters (which could disguise `exe.txt` as `txt.exe`), no path (`/` and `\` become `_`), no
 * leading dots, white space collapsed, at most MAX_FILE_NAME_LENGTH characters (the extension
 * kept); "file" when nothing is left.
 */
export const sanitizeFileName = (raw: string): string => {
  let name = raw
    .normalize("NFC")
    .replace(UNSAFE_NAME, "")
    .replace(/[/\\]/g, "_")
    .replace(/\s+/gu, " ")
    .trim()
    .replace(/^[.\s]+/, "");
  const chars = [...name];
  if (chars.length > MAX_FILE_NAME_LENGTH) {
    const dot = name.lastIndexOf(".");
    const extension = dot > 0 ? [...name.slice(dot)].slice(0, 16).join("") : "";
    name = chars.slice(0, MAX_FILE_NAME_LENGTH - [...extension].length).join("") + extension;
  }
  return name === "" ? "file" : name;
};

/** RFC 5987 `attr-char`s stay; every other byte of the UTF-8 name is percent-encoded. */
const encodeRfc5987 = (text: string): string =>
  encodeURIComponent(text).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * The Content-Disposition header for a (sanitised) name: `inline` or `attachment`, an ASCII
 * `filename` for old clients (anything else, quotes and backslashes as `_`) and the exact name as
 * `filename*=UTF-8''…` (RFC 6266 §4.3: recipients prefer it).
 */
export const contentDisposition = (name: string, inline: boolean): string => {
  const fallback = name.replace(/[^\x20-\x7e]|["\\%]/g, "_");
  return `${inline ? "inline" : "attachment"}; filename="${fallback}"; filename*=UTF-8''${encodeRfc5987(name)}`;
};
