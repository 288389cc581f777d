/** `#N` references: GitHub's closing keywords, mentions, and what code spans and fences hide. */
import { parseReferences, withoutCode } from "../../app/issues/references";

describe("parseReferences", () => {
  it.each([
    ["Fixes #12", [12]],
    ["fix #1", [1]],
    ["fixed #2", [2]],
    ["CLOSES #3", [3]],
    ["close #4 and closed #5", [4, 5]],
    ["Resolve #6, resolves #7, resolved #8", [6, 7, 8]],
    ["Fixes: #9", [9]],
    ["Fixes #1, fixes #2", [1, 2]],
    ["fixes #3 fixes #3", [3]],
  ])("%j closes %j", (text, closes) => {
    expect(parseReferences(text).closes).toEqual(closes);
  });

  it("takes other #N as mentions, without repeats and without the closed ones", () => {
    expect(parseReferences("See #4 and #5; fixes #4. Also #5 and #6.")).toEqual({
      closes: [4],
      mentions: [5, 6],
    });
  });

  it("ignores #N glued to words, paths, URLs, entities and other keywords", () => {
    const r = parseReferences(
      "prefixes #1 unfix#2 a/b#3 x.md#4 &#39; https://h/x#5 ##6 #7a #0 fixes #99999999999 fix-#8 suffixes #9",
    );
    expect(r.closes).toEqual([]);
    expect(r.mentions).toEqual([1, 9]);
  });

  it("ignores code spans and fenced blocks", () => {
    const text = [
      "Real: fixes #1",
      "Quoted: `fixes #2` and ``fixes #3 ` ``",
      "```",
      "fixes #4",
      "```",
      "~~~sh",
      "see #5",
      "~~~",
      "after: #6",
    ].join("\n");
    expect(parseReferences(text)).toEqual({ closes: [1], mentions: [6] });
  });

  it("an unclosed fence hides the rest, and offsets are kept", () => {
    expect(parseReferences("#1\n```\nfixes #2").mentions).toEqual([1]);
    expect(withoutCode("a `b` c")).toHaveLength("a `b` c".length);
  });

  it("caps the references of one text", () => {
    const many = Array.from({ length: 200 }, (_, i) => `#${i + 1}`).join(" ");
    const r = parseReferences(`fixes #500 ${many}`);
    expect(r.closes).toEqual([500]);
    expect(r.mentions.length + r.closes.length).toBe(50);
  });
});
