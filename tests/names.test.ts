import { describe, expect, test } from "bun:test";
import confusables from "unhomoglyph/data.json";
import {
  DEFAULT_ROOM,
  DEFAULT_ROOM_KEY,
  NAME_MAX_LENGTH,
  checkName,
  checkRoomName,
  guestName,
  nameKey,
} from "../src/domain/names";
import { DEFAULT_ROOM as PROTOCOL_DEFAULT_ROOM } from "../src/protocol";

const hex = (s: string): string => [...s].map((c) => `U+${c.codePointAt(0)!.toString(16).toUpperCase()}`).join(" ");

describe("names: the key", () => {
  // [name, why it looks like "alice"]
  const aliceLookAlikes: [string, string][] = [
    ["alice", "itself"],
    ["aIice", "capital I for l"],
    ["ALICE", "upper case"],
    ["Alice", "capitalised"],
    ["ɑlice", "Latin alpha U+0251"],
    ["alıce", "dotless ı U+0131"],
    ["аlice", "Cyrillic а U+0430"],
    ["ΑLICE", "Greek capital alpha"],
    ["ａｌｉｃｅ", "full width"],
    ["𝐚𝐥𝐢𝐜𝐞", "mathematical bold"],
    ["a1ice", "digit one for l"],
    ["a|ice", "vertical bar for l"],
    ["aⅼice", "small roman numeral fifty"],
    ["a lice", "inner space"],
  ];
  test.each(aliceLookAlikes)("%p collides with alice (%s)", (name) => {
    expect(nameKey(name)).toBe(nameKey("alice"));
    expect(checkName(name)).toMatchObject({ ok: true, key: nameKey("alice") });
  });

  const distinct: [string, string][] = [
    ["bob", "bib"],
    ["bob", "alice"],
    ["路人甲", "张三"],
    ["路人甲", "路人乙"],
    ["路人甲", "路人甲2"],
    ["🍵", "☕"],
    ["Nguyễn", "Nguyen"],
    ["anna", "anya"],
  ];
  test.each(distinct)("%p and %p have different keys", (a, b) => {
    expect(nameKey(a)).not.toBe(nameKey(b));
  });

  test("classic confusables collide", () => {
    expect(nameKey("rn")).toBe(nameKey("m"));
    expect(nameKey("paypal")).toBe(nameKey("pаypаl")); // Cyrillic а
    expect(nameKey("0")).toBe(nameKey("o"));
    expect(nameKey("Ivan")).toBe(nameKey("lvan"));
    expect(nameKey("straße")).toBe(nameKey("STRASSE"));
  });

  test("case never matters: upper and lower case of any Latin, Greek, Cyrillic or Armenian letter share a key", () => {
    for (let cp = 0x20; cp < 0x590; cp++) {
      const c = String.fromCodePoint(cp);
      const key = nameKey(c);
      expect([hex(c), nameKey(c.toUpperCase())]).toEqual([hex(c), key]);
      expect([hex(c), nameKey(c.toLowerCase())]).toEqual([hex(c), key]);
    }
  });

  test("in ASCII the skeleton may come before or after case folding: same key", () => {
    const data = confusables as Record<string, string>;
    for (let cp = 0x20; cp < 0x7f; cp++) {
      const c = String.fromCodePoint(cp);
      expect([c, nameKey(data[c] ?? c)]).toEqual([c, nameKey(c)]);
    }
  });

  test("a key is its own key (the prototypes are final)", () => {
    for (const name of [...aliceLookAlikes.map(([n]) => n), "MAX", "%", "ẞ", "ᗰ", "Σοφία", "Иван", "路人甲", "🍵"])
      expect(nameKey(nameKey(name))).toBe(nameKey(name));
  });

  test("white space and invisible characters do not count in the key", () => {
    expect(nameKey("a b")).toBe("ab");
    expect(nameKey("a\u200Db\u00AD")).toBe("ab");
    expect(nameKey(" a\u3000b ")).toBe("ab");
  });
});

describe("names: validation", () => {
  test("trimmed, NFC, inner white space collapsed", () => {
    expect(checkName("  a   b ")).toEqual({ ok: true, name: "a b", key: "ab" });
    expect(checkName("a\tb\nc\r\nd")).toMatchObject({ ok: true, name: "a b c d" });
    expect(checkName("a\u00A0\u3000b")).toMatchObject({ ok: true, name: "a b" });
    expect(checkName("e\u0301")).toMatchObject({ ok: true, name: "é" });
    expect(checkName("Nguye\u0302\u0303n")).toMatchObject({ ok: true, name: "Nguyễn" }); // NFD in, NFC out
  });

  test("1 … max characters, counted in code points", () => {
    expect(checkName("")).toMatchObject({ ok: false, error: "invalid_name" });
    expect(checkName(" \t ")).toMatchObject({ ok: false, error: "invalid_name" });
    expect(checkName("x".repeat(NAME_MAX_LENGTH)).ok).toBe(true);
    expect(checkName("x".repeat(NAME_MAX_LENGTH + 1)).ok).toBe(false);
    expect(checkName("🍵".repeat(32)).ok).toBe(true); // 32 characters, 64 UTF-16 units
    expect(checkName("x".repeat(10), "room", 9)).toMatchObject({ ok: false, error: "invalid_room" });
  });

  test("only text", () => {
    for (const raw of [undefined, null, 42, {}, ["alice"]])
      expect(checkName(raw)).toMatchObject({ ok: false, error: "invalid_name", message: "The name must be text" });
    expect(checkName(42, "room")).toMatchObject({ ok: false, error: "invalid_room" });
  });

  // [character, what it is]
  const invisible: [string, string][] = [
    ["\u0000", "NUL"],
    ["\u0007", "bell"],
    ["\u001B", "escape"],
    ["\u007F", "delete"],
    ["\u0085", "next line"],
    ["\u2028", "line separator"],
    ["\u2029", "paragraph separator"],
    ["\u00AD", "soft hyphen"],
    ["\u034F", "combining grapheme joiner"],
    ["\u061C", "Arabic letter mark"],
    ["\u115F", "Hangul choseong filler"],
    ["\u1160", "Hangul jungseong filler"],
    ["\u17B4", "Khmer vowel inherent aq"],
    ["\u180E", "Mongolian vowel separator"],
    ["\u200B", "zero width space"],
    ["\u200C", "zero width non-joiner"],
    ["\u200D", "zero width joiner"],
    ["\u200E", "left-to-right mark"],
    ["\u200F", "right-to-left mark"],
    ["\u202A", "left-to-right embedding"],
    ["\u202E", "right-to-left override"],
    ["\u2060", "word joiner"],
    ["\u2066", "left-to-right isolate"],
    ["\u2069", "pop directional isolate"],
    ["\u2800", "braille pattern blank"],
    ["\u3164", "Hangul filler"],
    ["\uFE0F", "variation selector 16"],
    ["\u{E0100}", "variation selector 17"],
    ["\uFEFF", "zero width no-break space"],
    ["\uFFA0", "half-width Hangul filler"],
    ["\uFFF9", "interlinear annotation anchor"],
    ["\u{1D159}", "musical symbol null notehead"],
    ["\u{1D173}", "musical symbol begin beam"],
    ["\u{E0001}", "language tag"],
    ["\u{E0041}", "tag latin capital letter a"],
    ["\u{E007F}", "cancel tag"],
    ["\uE000", "private use"],
    ["\u{F0000}", "supplementary private use"],
    ["\uD800", "lone surrogate"],
    ["\u0378", "unassigned"],
    ["\uFFFF", "noncharacter"],
  ];
  test.each(invisible)("refuses %p (%s) inside, before and after a name", (c) => {
    for (const raw of [`ali${c}ce`, `alice${c}`, `${c}alice`, `alice ${c}`]) {
      const check = checkName(raw);
      expect([hex(raw), check]).toEqual([
        hex(raw),
        { ok: false, error: "invalid_name", message: "The name contains invisible or control characters" },
      ]);
    }
    expect(checkRoomName(`ali${c}ce`)).toMatchObject({ ok: false, error: "invalid_room" });
  });

  test("refuses emoji sequences that need a joiner or a variation selector (see the report)", () => {
    expect(checkName("👩\u200D💻").ok).toBe(false);
    expect(checkName("❤\uFE0F").ok).toBe(false);
    expect(checkName("❤").ok).toBe(true);
  });

  const stacked: [string, string][] = [
    ["x\u0301\u0302\u0303", "three marks on x"],
    ["a\u0301\u0302\u0303\u0304", "four marks on a, three once NFC has made á"],
    ["Z\u0351\u036B\u0343\u036A\u0302\u036B\u033D", "Zalgo"],
    ["e\u20DD\u20DD\u20DD", "three enclosing marks"],
    ["\u0F40\u0F90\u0F91\u0F92\u0F93\u0F94", "five Tibetan subjoined letters"],
    ["\u0F40\u0F90\u0F74\u0F91\u0F74\u0F92", "subjoined letters and vowels, five in a row"],
  ];
  test.each(stacked)("refuses stacked marks: %p (%s)", (raw) => {
    expect(checkName(raw)).toMatchObject({
      ok: false,
      error: "invalid_name",
      message: expect.stringContaining("marks"),
    });
  });

  test("two marks in a row are fine, counted after NFC", () => {
    expect(checkName("x\u0301\u0302")).toMatchObject({ ok: true });
    expect(checkName("a\u0301\u0302\u0303")).toMatchObject({ ok: true, name: "\u00E1\u0302\u0303" });
  });

  test("refuses a name that starts with a combining mark", () => {
    expect(checkName("\u0301alice")).toMatchObject({ ok: false, message: expect.stringContaining("combining mark") });
    expect(checkName(" \u0301alice")).toMatchObject({ ok: false, message: expect.stringContaining("combining mark") });
  });

  const names: [string, string][] = [
    ["alice", "English"],
    ["Mary Jane", "two words"],
    ["José", "Spanish"],
    ["Zoë", "diaeresis"],
    ["Nguyễn Văn An", "Vietnamese"],
    ["Ọ̀ṣẹ́", "Yoruba, a dot below and a tone mark"],
    ["अनुराग", "Hindi"],
    ["क्षत्रिय", "Hindi, conjuncts"],
    ["স্বপ্ন", "Bengali"],
    ["สมชาย", "Thai"],
    ["ปิ่น", "Thai, vowel and tone mark"],
    ["ស្រី", "Khmer"],
    ["ကျော်", "Burmese: three spacing marks and a nonspacing one"],
    ["སྒྲོལ་མ", "Tibetan: two subjoined letters and a vowel"],
    ["Σοφία", "Greek"],
    ["Иван", "Russian"],
    ["محمّد", "Arabic with shadda"],
    ["שָׁלוֹם", "Hebrew with points"],
    ["路人甲", "Chinese"],
    ["张三", "Chinese"],
    ["이민준", "Korean"],
    ["さくら", "Japanese"],
    ["🍵", "emoji"],
    ["茶 🍵 tea", "mixed"],
  ];
  test.each(names)("accepts %p (%s)", (raw) => {
    const check = checkName(raw);
    expect(check).toEqual({ ok: true, name: raw.normalize("NFC"), key: nameKey(raw) });
  });

  test("different people keep different keys", () => {
    const keys = new Set(names.map(([n]) => nameKey(n)));
    expect(keys.size).toBe(names.length);
  });
});

describe("names: rooms", () => {
  test("DEFAULT_ROOM_KEY is the lobby's key, and the lobby is the protocol's default room", () => {
    expect(DEFAULT_ROOM).toBe(PROTOCOL_DEFAULT_ROOM);
    expect(DEFAULT_ROOM_KEY).toBe(nameKey(DEFAULT_ROOM));
  });

  test("the lobby itself is a valid room name", () => {
    expect(checkRoomName("lobby")).toEqual({ ok: true, name: "lobby", key: DEFAULT_ROOM_KEY });
    expect(checkRoomName("  lobby ")).toEqual({ ok: true, name: "lobby", key: DEFAULT_ROOM_KEY });
  });

  // Everything else with the lobby's key is refused, upper case included:
  // "LOBBY" would be a second room that people cannot tell from the lobby.
  const lobbyLookAlikes: [string, string][] = [
    ["LOBBY", "upper case"],
    ["Lobby", "capitalised"],
    ["ⅼobby", "small roman numeral fifty"],
    ["1obby", "digit one"],
    ["Iobby", "capital I"],
    ["lоbby", "Cyrillic о"],
    ["l o b b y", "spaced"],
    ["ｌｏｂｂｙ", "full width"],
  ];
  test.each(lobbyLookAlikes)("refuses %p as reserved (%s)", (raw) => {
    expect(checkRoomName(raw)).toMatchObject({
      ok: false,
      error: "invalid_room",
      message: expect.stringContaining("reserved"),
    });
  });

  test("a comma is refused; other rooms are fine", () => {
    expect(checkRoomName("a,b")).toEqual({
      ok: false,
      error: "invalid_room",
      message: "A room name cannot contain a comma",
    });
    expect(checkRoomName("lobby2")).toMatchObject({ ok: true, name: "lobby2" });
    expect(checkRoomName("茶馆")).toMatchObject({ ok: true, name: "茶馆" });
    expect(checkRoomName("")).toMatchObject({ ok: false, error: "invalid_room" });
    expect(checkRoomName("x".repeat(NAME_MAX_LENGTH + 1))).toMatchObject({ ok: false, error: "invalid_room" });
  });
});

describe("names: guests", () => {
  test("路人甲 … 路人癸, then 路人甲2 …", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(guestName).join(" ")).toBe(
      "路人甲 路人乙 路人丙 路人丁 路人戊 路人己 路人庚 路人辛 路人壬 路人癸",
    );
    expect([10, 11, 19, 20, 21, 99, 100].map(guestName)).toEqual([
      "路人甲2",
      "路人乙2",
      "路人癸2",
      "路人甲3",
      "路人乙3",
      "路人癸10",
      "路人甲11",
    ]);
  });

  test("guest names are valid names with distinct keys", () => {
    const keys = new Set<string>();
    for (let n = 0; n < 200; n++) {
      const check = checkName(guestName(n));
      expect(check.ok).toBe(true);
      if (check.ok) keys.add(check.key);
    }
    expect(keys.size).toBe(200);
  });
});

describe("a dot above a dotted letter", () => {
  test("is refused: ali\u0307ce would look like alice and not collide with it", () => {
    for (const name of ["ali\u0307ce", "j\u0307ohn", "i\u0323\u0307"]) expect(checkName(name).ok).toBe(false);
    // A dot above on other letters is a real letter (ż is precomposed by NFC, ȧ too).
    expect(checkName("z\u0307ofia").ok).toBe(true);
    expect(checkName("ȧ").ok).toBe(true);
  });
});
