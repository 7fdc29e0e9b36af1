/**
 * What an upload is, from its bytes (domain/files.ts): the sniffed type and an image's size, JPEG
 * location metadata removed with the orientation kept, PNG eXIf removed, file names made safe, and
 * Content-Disposition with an RFC 5987 `filename*`.
 */
import { describe, expect, test } from "bun:test";
import {
  contentDisposition,
  MalformedImageError,
  sanitizeFileName,
  sniff,
  stripJpegMetadata,
  stripPngMetadata,
} from "../src/domain/files";
import { contains, GPS_LATITUDE, jpegWithGps, png } from "./images";

const text = (s: string) => new TextEncoder().encode(s);

describe("sniffing", () => {
  test("known raster images are inline, with their dimensions; the claim of the client plays no part", () => {
    expect(sniff(png(3, 2))).toEqual({ type: "image/png", inline: true, width: 3, height: 2 });
    expect(sniff(text("GIF89a\x05\x00\x07\x00rest"))).toEqual({ type: "image/gif", inline: true, width: 5, height: 7 });
    // A JPEG stored 40×30 with orientation 6 (turned a quarter) is shown 30×40.
    expect(sniff(jpegWithGps(40, 30, 6))).toEqual({ type: "image/jpeg", inline: true, width: 30, height: 40 });
    expect(sniff(jpegWithGps(40, 30, 1))).toMatchObject({ width: 40, height: 30 });
    const vp8x = new Uint8Array(30);
    vp8x.set(text("RIFF\0\0\0\0WEBPVP8X"), 0);
    vp8x.set([99, 0, 0, 49, 0, 0], 24);
    expect(sniff(vp8x)).toEqual({ type: "image/webp", inline: true, width: 100, height: 50 });
  });

  test("SVG, HTML and the rest are named by what they are and never inline", () => {
    expect(
      sniff(text('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>')),
    ).toEqual({
      type: "image/svg+xml",
      inline: false,
    });
    expect(sniff(text("  <!DOCTYPE html><html><script>alert(1)</script>")).type).toBe("text/html");
    expect(sniff(text("<script>alert(1)</script>")).type).toBe("text/html");
    expect(sniff(text("%PDF-1.7 ...")).type).toBe("application/pdf");
    expect(sniff(text("just some notes\nline two")).type).toBe("text/plain");
    expect(sniff(new Uint8Array([0, 1, 2, 3, 255])).type).toBe("application/octet-stream");
    // A PNG signature with no readable header is not shown as an image.
    expect(sniff(png(2, 2).subarray(0, 12))).toEqual({ type: "application/octet-stream", inline: false });
    // A pixel flood (100,000 × 100,000) is a download.
    const huge = png(1, 1);
    huge.set([0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0], 16);
    expect(sniff(huge)).toMatchObject({ type: "image/png", inline: false });
  });
});

describe("metadata", () => {
  test("a JPEG loses its Exif (GPS) and XMP segments, keeps its orientation, and is otherwise unchanged", () => {
    const original = jpegWithGps(40, 30, 6);
    expect(contains(original, GPS_LATITUDE)).toBe(true);
    const stripped = stripJpegMetadata(original);
    expect(contains(stripped, GPS_LATITUDE)).toBe(false);
    expect(contains(stripped, "GPSLatitude")).toBe(false);
    expect(contains(stripped, "http://ns.adobe.com")).toBe(false);
    // The orientation survives (so the photo still stands upright), in a minimal Exif segment after JFIF.
    expect(sniff(stripped)).toEqual({ type: "image/jpeg", inline: true, width: 30, height: 40 });
    expect(contains(stripped.subarray(0, 24), "JFIF")).toBe(true);
    // The scan data and the end are the same bytes.
    expect(Buffer.from(stripped.subarray(-210)).equals(Buffer.from(original.subarray(-210)))).toBe(true);
    // Stripping twice changes nothing more.
    expect(Buffer.from(stripJpegMetadata(stripped)).equals(Buffer.from(stripped))).toBe(true);
    // Orientation 1 needs no Exif at all.
    expect(contains(stripJpegMetadata(jpegWithGps(4, 4, 1)), "Exif")).toBe(false);
  });

  test("a JPEG whose segments run past its end is refused, not passed on with its metadata", () => {
    const broken = jpegWithGps(4, 4).subarray(0, 40);
    expect(() => stripJpegMetadata(broken)).toThrow(MalformedImageError);
  });

  test("a PNG loses its eXIf chunk and XMP, and nothing else", () => {
    const exif = new Uint8Array([...text("MM\0*"), 0, 0, 0, 8, ...GPS_LATITUDE]);
    const tagged = png(
      2,
      2,
      [1, 2, 3],
      [
        ["eXIf", exif],
        ["iTXt", text("XML:com.adobe.xmp\0\0\0\0\0<gps/>")],
        ["tEXt", text("Title\0cat")],
      ],
    );
    const stripped = stripPngMetadata(tagged);
    expect(contains(stripped, GPS_LATITUDE)).toBe(false);
    expect(contains(stripped, "<gps/>")).toBe(false);
    expect(contains(stripped, "Title")).toBe(true);
    expect(stripped.length).toBe(png(2, 2, [1, 2, 3], [["tEXt", text("Title\0cat")]]).length);
    const plain = png(2, 2);
    expect(stripPngMetadata(plain)).toBe(plain);
  });
});

describe("names", () => {
  test("no paths, controls, bidi tricks or leading dots; long names keep their extension", () => {
    expect(sanitizeFileName("../../etc/passwd")).toBe("_.._etc_passwd");
    expect(sanitizeFileName("invoice\u202Efdp.exe")).toBe("invoicefdp.exe");
    expect(sanitizeFileName("a\r\nb\u0000c.txt")).toBe("abc.txt");
    expect(sanitizeFileName("  .hidden  ")).toBe("hidden");
    expect(sanitizeFileName("")).toBe("file");
    expect(sanitizeFileName("...")).toBe("file");
    const long = sanitizeFileName(`${"名".repeat(300)}.pdf`);
    expect([...long].length).toBe(200);
    expect(long.endsWith(".pdf")).toBe(true);
  });

  test("Content-Disposition: an ASCII fallback and the exact name in filename*", () => {
    expect(contentDisposition("report.pdf", false)).toBe(
      `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`,
    );
    expect(contentDisposition('我的 "报告".pdf', true)).toBe(
      `inline; filename="__ ____.pdf"; filename*=UTF-8''%E6%88%91%E7%9A%84%20%22%E6%8A%A5%E5%91%8A%22.pdf`,
    );
    expect(contentDisposition("it's (1).txt", false)).toContain("filename*=UTF-8''it%27s%20%281%29.txt");
  });
});
