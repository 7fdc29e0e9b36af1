/**
 * Message formatting (src/web/client/format.ts): a DOM-free tree, so it is
 * checked here as data; tests/browser/messages-render.test.ts checks the DOM.
 */
import { describe, expect, test } from "bun:test";
import { format, LINK_REL, plainText, type FormatNode } from "../src/web/client/format";

/** True when format marks a mention of `me` in the text (what the page highlights). */
const mentionsMe = (text: string, me: string): boolean => {
  const marked = (nodes: FormatNode[]): boolean =>
    nodes.some(
      (node) =>
        typeof node !== "string" &&
        ((node.tag === "span" && (node.attrs?.class ?? "").split(" ").includes("mentions-me")) ||
          marked(node.children)),
    );
  return marked(format(text, { me }));
};

const link = (url: string): FormatNode => ({
  tag: "a",
  attrs: { href: url, target: "_blank", rel: LINK_REL },
  children: [url],
});
const links = (nodes: FormatNode[]): string[] =>
  nodes.flatMap((node) =>
    typeof node === "string" ? [] : node.tag === "a" ? [node.attrs!.href!] : links(node.children),
  );
const tags = (nodes: FormatNode[]): string[] =>
  nodes.flatMap((node) => (typeof node === "string" ? [] : [node.tag, ...tags(node.children)]));

describe("links", () => {
  test("http and https become links opening a new tab without opener or referrer", () => {
    expect(format("see https://example.com/a?b=1#c now")).toEqual([
      "see ",
      link("https://example.com/a?b=1#c"),
      " now",
    ]);
    expect(links(format("HTTP://EXAMPLE.COM/x"))).toEqual(["HTTP://EXAMPLE.COM/x"]);
    expect(links(format("two: http://a.example and https://b.example/"))).toEqual([
      "http://a.example",
      "https://b.example/",
    ]);
  });

  test("other schemes and look-alikes stay text", () => {
    for (const text of [
      "javascript:alert(1)",
      "JavaScript:alert(document.cookie)",
      "javascript :alert(1)",
      "jav&#x61;script:alert(1)",
      "java\tscript:alert(1)",
      "data:text/html,<script>alert(1)</script>",
      "vbscript:msgbox(1)",
      "ｊａｖａｓｃｒｉｐｔ:alert(1)",
      "ｈｔｔｐｓ://example.com",
      "ftp://example.com/file",
      "//example.com/x",
      "http://",
      "https://例子.com",
    ]) {
      expect(links(format(text))).toEqual([]);
      expect(plainText(format(text))).toBe(text);
    }
    // A URL after a look-alike scheme links only the http part, never the scheme before it.
    expect(links(format("javascript:void(0)//https://example.com"))).toEqual(["https://example.com"]);
  });

  test("trailing punctuation and unbalanced brackets are not part of the link", () => {
    for (const end of [".", ",", ";", ":", "!", "?", "...", "!?"])
      expect(links(format(`go to https://example.com/a${end}`))).toEqual(["https://example.com/a"]);
    expect(links(format("(see https://example.com/a)"))).toEqual(["https://example.com/a"]);
    expect(links(format("[https://example.com/a]"))).toEqual(["https://example.com/a"]);
    expect(links(format("https://en.wikipedia.org/wiki/Tea_(drink)."))).toEqual([
      "https://en.wikipedia.org/wiki/Tea_(drink)",
    ]);
    expect(links(format("(https://en.wikipedia.org/wiki/Tea_(drink))"))).toEqual([
      "https://en.wikipedia.org/wiki/Tea_(drink)",
    ]);
    expect(links(format("'https://example.com/q'"))).toEqual(["https://example.com/q"]);
  });

  test("Chinese text and punctuation end a URL", () => {
    expect(format("看这个https://example.com/a吧")).toEqual(["看这个", link("https://example.com/a"), "吧"]);
    for (const mark of ["，", "。", "！", "？", "、", "；", "：", "」", "）"])
      expect(links(format(`链接：https://example.com/x${mark}后面`))).toEqual(["https://example.com/x"]);
    expect(format("（https://example.com）")).toEqual(["（", link("https://example.com"), "）"]);
  });
});

describe("light formatting", () => {
  test("bold, italic and strike, also inside Chinese text without spaces", () => {
    expect(format("这是**重点**内容")).toEqual(["这是", { tag: "strong", children: ["重点"] }, "内容"]);
    expect(format("a *b* c")).toEqual(["a ", { tag: "em", children: ["b"] }, " c"]);
    expect(format("这是_斜体_呀")).toEqual(["这是", { tag: "em", children: ["斜体"] }, "呀"]);
    expect(format("这是*斜体*呀")).toEqual(["这是", { tag: "em", children: ["斜体"] }, "呀"]);
    expect(format("~~old~~ new")).toEqual([{ tag: "del", children: ["old"] }, " new"]);
    expect(format("**bold with *italic* inside**")).toEqual([
      { tag: "strong", children: ["bold with ", { tag: "em", children: ["italic"] }, " inside"] },
    ]);
    expect(format("**see https://example.com**")).toEqual([
      { tag: "strong", children: ["see ", link("https://example.com")] },
    ]);
  });

  test("snake_case, arithmetic and stray markers stay text", () => {
    for (const text of [
      "snake_case_words",
      "call my_var_name now",
      "2*3*4",
      "2 * 3 * 4",
      "a * b",
      "** not bold **",
      "_ not italic _",
      "**unclosed",
      "~single~",
      "*line\nbreak*",
      "",
    ]) {
      expect(tags(format(text))).toEqual([]);
      expect(plainText(format(text))).toBe(text);
    }
  });

  test("code spans and fenced blocks keep their text as it is", () => {
    expect(format("run `rm -rf *tmp*` and `https://example.com` **now**")).toEqual([
      "run ",
      { tag: "code", children: ["rm -rf *tmp*"] },
      " and ",
      { tag: "code", children: ["https://example.com"] },
      " ",
      { tag: "strong", children: ["now"] },
    ]);
    const block = "before\n```ts\nconst a = **b**;\n  indented  _x_\nhttps://example.com\n```\nafter";
    expect(format(block)).toEqual([
      "before",
      { tag: "pre", children: [{ tag: "code", children: ["const a = **b**;\n  indented  _x_\nhttps://example.com"] }] },
      "after",
    ]);
    expect(format("```inline block```")).toEqual([
      { tag: "pre", children: [{ tag: "code", children: ["inline block"] }] },
    ]);
    expect(plainText(format("```unclosed\nblock"))).toBe("```unclosed\nblock");
  });

  test("markup is text: the tree has only its own elements", () => {
    const text = '<img src=x onerror=alert(1)> <a href="javascript:alert(1)">x</a> &lt;b&gt;';
    expect(format(text)).toEqual([text]);
  });

  test("a long run of markers is formatted in linear time", () => {
    const text = "_a **b ~~c ".repeat(10_000);
    const started = performance.now();
    expect(format(text)).toEqual([text]);
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe("mentions", () => {
  test("@name is a mention; the reader's own name is marked, whatever its case", () => {
    expect(format("hi @bob and @Ann!", { me: "ann" })).toEqual([
      "hi ",
      { tag: "span", attrs: { class: "mention" }, children: ["@bob"] },
      " and ",
      { tag: "span", attrs: { class: "mention mentions-me" }, children: ["@Ann"] },
      "!",
    ]);
    expect(mentionsMe("ping @ANN", "ann")).toBe(true);
    expect(mentionsMe("ping @annie", "ann")).toBe(false);
    expect(mentionsMe("mail ann@example.com", "ann")).toBe(false);
    expect(mentionsMe("`@ann` in code", "ann")).toBe(false);
    expect(mentionsMe("https://example.com/@ann", "ann")).toBe(false);
  });

  test("names with spaces, and Chinese names followed by text", () => {
    expect(mentionsMe("hey @ivy with a long name, look", "ivy with a long name")).toBe(true);
    expect(format("@小明你好", { me: "小明" })).toEqual([
      { tag: "span", attrs: { class: "mention mentions-me" }, children: ["@小明"] },
      "你好",
    ]);
    expect(mentionsMe("**@小明**", "小明")).toBe(true);
    expect(mentionsMe("@小明", "小红")).toBe(false);
  });
});
