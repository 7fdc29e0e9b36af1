/**
 * Image fixtures the tests make themselves: a real PNG of one colour (decodable by a browser), and
 * JPEG headers with Exif (orientation, a GPS IFD with a latitude) around a frame header and a
 * scan, as a camera writes them.
 */
import { deflateSync } from "node:zlib";

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (bytes: Uint8Array): number => {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const u32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const chunk = (type: string, data: Uint8Array): number[] => {
  const typed = new Uint8Array([...Buffer.from(type, "latin1"), ...data]);
  return [...u32(data.length), ...typed, ...u32(crc32(typed))];
};

/** A `width`×`height` PNG of one RGB colour; `extra` chunks go before the image data. */
export const png = (
  width: number,
  height: number,
  rgb: [number, number, number] = [200, 80, 40],
  extra: Array<[string, Uint8Array]> = [],
): Uint8Array => {
  const row = [0, ...Array.from({ length: width }, () => rgb).flat()];
  const raw = new Uint8Array(Array.from({ length: height }, () => row).flat());
  const header = new Uint8Array([...u32(width), ...u32(height), 8, 2, 0, 0, 0]);
  return new Uint8Array([
    0x89,
    0x50,
    0x4e,
    0x47,
    0x0d,
    0x0a,
    0x1a,
    0x0a,
    ...chunk("IHDR", header),
    ...extra.flatMap(([type, data]) => chunk(type, data)),
    ...chunk("IDAT", new Uint8Array(deflateSync(raw))),
    ...chunk("IEND", new Uint8Array()),
  ]);
};

const be16 = (n: number) => [(n >> 8) & 255, n & 255];
const segment = (marker: number, payload: number[]) => [0xff, marker, ...be16(payload.length + 2), ...payload];

/** A TIFF (big-endian) with IFD0 = Orientation and a pointer to a GPS IFD holding a latitude. */
const exifWithGps = (orientation: number): number[] => {
  // Offsets are from the TIFF header's start.
  const ifd0 = 8;
  const ifd0Size = 2 + 2 * 12 + 4;
  const gps = ifd0 + ifd0Size;
  const gpsSize = 2 + 2 * 12 + 4;
  const latitude = gps + gpsSize;
  return [
    ...[0x4d, 0x4d, 0x00, 0x2a, ...u32(ifd0)],
    ...be16(2),
    ...[0x01, 0x12, 0x00, 0x03, ...u32(1), ...be16(orientation), 0, 0], // Orientation
    ...[0x88, 0x25, 0x00, 0x04, ...u32(1), ...u32(gps)], // GPS IFD pointer
    ...u32(0),
    ...be16(2),
    ...[0x00, 0x01, 0x00, 0x02, ...u32(2), 0x4e, 0, 0, 0], // GPSLatitudeRef "N"
    ...[0x00, 0x02, 0x00, 0x05, ...u32(3), ...u32(latitude)], // GPSLatitude: 3 rationals
    ...u32(0),
    ...[...u32(31), ...u32(1), ...u32(14), ...u32(1), ...u32(1234), ...u32(100)], // 31° 14' 12.34"
  ];
};

/** The latitude's rationals as they sit in the file (31/1 14/1 1234/100): what must be gone. */
export const GPS_LATITUDE = new Uint8Array([...u32(31), ...u32(1), ...u32(14), ...u32(1), ...u32(1234), ...u32(100)]);

/**
 * A JPEG's structure: SOI, JFIF, Exif (orientation and GPS), XMP with a location, a quantisation
 * table, the frame header (`width`×`height` as stored), the scan with some entropy-coded bytes, EOI.
 */
export const jpegWithGps = (width: number, height: number, orientation = 6): Uint8Array =>
  new Uint8Array([
    0xff,
    0xd8,
    ...segment(0xe0, [...Buffer.from("JFIF\0", "latin1"), 1, 1, 0, 0, 1, 0, 1, 0, 0]),
    ...segment(0xe1, [...Buffer.from("Exif\0\0", "latin1"), ...exifWithGps(orientation)]),
    ...segment(0xe1, [
      ...Buffer.from('http://ns.adobe.com/xap/1.0/\0<x:xmpmeta exif:GPSLatitude="31,14.2N"/>', "latin1"),
    ]),
    ...segment(0xdb, [0, ...Array.from({ length: 64 }, () => 1)]),
    ...segment(0xc0, [8, ...be16(height), ...be16(width), 1, 1, 0x11, 0]),
    ...segment(0xda, [1, 1, 0, 0, 63, 0]),
    ...Array.from({ length: 200 }, (_, i) => (i * 37) % 255),
    0xff,
    0xd9,
  ]);

/** Whether `needle` occurs in `haystack`. */
export const contains = (haystack: Uint8Array, needle: Uint8Array | string): boolean =>
  Buffer.from(haystack).includes(typeof needle === "string" ? Buffer.from(needle, "latin1") : Buffer.from(needle));
