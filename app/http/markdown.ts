/**
 * Markdown files rendered for the web UI: GitHub-flavoured Markdown through `marked`, then an
 * allow-list of tags and attributes through `sanitize-html`, so repository content never carries
 * script, styles or requests to other hosts into a page. Relative links and images resolve inside
 * the repository at the rendered commit.
 */
import { marked } from "marked";
import sanitizeHtml from "sanitize-html";
import { urls } from "../../web/src/routes";

export interface MarkdownBase {
  owner: string;
  repo: string;
  commit: string;
  /** Directory of the Markdown file, for relative links ("" at the root). */
  dir: string;
}

/** Markdown → HTML that is safe to insert into a page: an allow-list of tags and attributes. */
export function markdownToSafeHtml(source: string, base: MarkdownBase): string {
  const raw = marked.parse(source, { async: false, gfm: true }) as string;
  return sanitizeHtml(raw, {
    allowedTags: [...sanitizeHtml.defaults.allowedTags, "img", "del", "input", "details", "summary"],
    allowedAttributes: {
      a: ["href", "title", "rel"],
      img: ["src", "alt", "title", "width", "height"],
      input: ["type", "checked", "disabled"],
      th: ["align"],
      td: ["align"],
      ol: ["start"],
      code: ["class"],
    },
    allowedClasses: { code: [/^language-[\w-]+$/] },
    allowedSchemes: ["http", "https", "mailto"],
    allowedSchemesByTag: { img: [] },
    allowProtocolRelative: false,
    transformTags: {
      a: (tagName, attribs): sanitizeHtml.Tag => {
        const href = attribs.href ?? "";
        if (isRelative(href)) return { tagName, attribs: { ...attribs, href: repoLink(base, href) } };
        return { tagName, attribs: { ...attribs, rel: "nofollow noopener noreferrer" } };
      },
      img: (tagName, attribs): sanitizeHtml.Tag => {
        const src = attribs.src ?? "";
        if (isRelative(src) && !src.startsWith("#")) {
          return { tagName, attribs: { ...attribs, src: blobUrl(base, src) } };
        }
        // Not fetched from another host: shown as a link to the image instead.
        return {
          tagName: "a",
          attribs: { href: src, rel: "nofollow noopener noreferrer" },
          text: attribs.alt || src,
        };
      },
      // Task-list checkboxes are display only.
      input: (tagName, attribs): sanitizeHtml.Tag =>
        attribs.type === "checkbox"
          ? {
              tagName,
              attribs: {
                type: "checkbox",
                disabled: "",
                ...(attribs.checked !== undefined ? { checked: "" } : {}),
              },
            }
          : { tagName: "span", attribs: {} },
    },
  });
}

/** A link without a scheme or host: to something in the repository (or an anchor). */
const isRelative = (url: string) => url !== "" && !/^[a-z][a-z0-9+.-]*:/i.test(url) && !url.startsWith("//");

/** Resolves a relative path against the file's directory; undefined if it leaves the repository. */
function resolvePath(dir: string, rel: string): string | undefined {
  const parts = rel.startsWith("/") ? [] : dir.split("/").filter(Boolean);
  for (const seg of rel.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(seg);
  }
  return parts.join("/");
}

function splitSuffix(url: string): [string, string] {
  const i = url.search(/[?#]/);
  return i < 0 ? [url, ""] : [url.slice(0, i), url.slice(i)];
}

function repoLink(base: MarkdownBase, href: string): string {
  if (href.startsWith("#")) return href;
  const [target, suffix] = splitSuffix(href);
  const path = resolvePath(base.dir, safeDecode(target));
  if (path === undefined) return "#";
  if (path === "") return urls.tree(base.owner, base.repo, base.commit) + suffix;
  // Whether it is a file or a directory, the file browser finds out (and shows a directory as one).
  return urls.blob(base.owner, base.repo, base.commit, path) + suffix;
}

function blobUrl(base: MarkdownBase, src: string): string {
  const path = resolvePath(base.dir, safeDecode(splitSuffix(src)[0]));
  if (!path) return "";
  const enc = encodeURIComponent;
  return `/api/${enc(base.owner)}/${enc(base.repo)}/blob/${base.commit}/${path.split("/").map(enc).join("/")}`;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
