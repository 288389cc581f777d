/**
 * The UI's server side without a browser: which paths are pages (and which are never shadowed),
 * the shell's headers and CSP, hashed immutable assets, the refs listing, the Markdown endpoint
 * and its sanitiser, and /api/config.
 */
import { git } from "../../app/git/exec";
import { writeCommit } from "../../app/git/write";
import { markdownToSafeHtml } from "../../app/http/markdown";
import { PAGE_CSP } from "../../app/http/web";
import { parseRoute } from "../../web/src/routes";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";

let p: TestPlatform;
let commit: string;
const saved = process.env.ANTHROPIC_API_KEY;

beforeAll(async () => {
  delete process.env.ANTHROPIC_API_KEY;
  p = await startTestPlatform();
  const admin = { id: 1, username: "admin" };
  const repo = await p.ctx.git.repos.create(admin, { name: "site" });
  const gitDir = p.ctx.git.repos.gitDir(repo);
  commit = await writeCommit(gitDir, {
    branch: "main",
    message: "site\n",
    files: {
      "docs/guide.md": [
        "# Guide",
        "",
        "[sibling](other.md) [up](../README.md) [top](/src/a.ts#L2) [out](../../x) [web](https://example.com/)",
        "",
        "![logo](img/logo.png) ![remote](https://tracker.example.com/p.gif)",
        "",
        '<script>alert(1)</script><img src="x" onerror="alert(2)"><a href="javascript:alert(3)">js</a>',
        '<iframe src="https://evil.example"></iframe><p style="color:red" onclick="x()">styled</p>',
        "",
        "- [x] done",
      ].join("\n"),
      "README.md": "# site\n",
    },
  });
  await git(["update-ref", "refs/heads/feature/x", commit], { gitDir });
  await git(["tag", "-a", "-m", "v1", "v1", commit], {
    gitDir,
    env: { GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" },
  });
  await git(["tag", "tree-tag", `${commit}^{tree}`], { gitDir });
  await p.ctx.git.repos.create(admin, { name: "hidden", visibility: "private" });
});
afterAll(async () => {
  await p.close();
  if (saved !== undefined) process.env.ANTHROPIC_API_KEY = saved;
});

const get = (path: string, init?: RequestInit) => fetch(p.url + path, init);
const bearer = () => ({ authorization: `Bearer ${p.token}` });

describe("routes", () => {
  it.each([
    ["/", "home"],
    ["/login", "login"],
    ["/demo/hello", "repo"],
    ["/demo/hello/", "repo"],
    ["/demo/hello/tree/main/src", "repo"],
    ["/demo/hello/blob/feature/x/a%20b.txt", "repo"],
    ["/demo/hello/runs", "runs"],
    ["/sessions/0b5c0c57-7d3c-4b1e-9a3e-1f2d3c4b5a69", "session"],
    ["/runs/0b5c0c57-7d3c-4b1e-9a3e-1f2d3c4b5a69", "run"],
    ["/signup", "signup"],
    ["/password", "password"],
    ["/settings/tokens", "tokens"],
    ["/orgs/new", "new-org"],
    ["/admin/users", "admin-users"],
    ["/admin/invites", "admin-invites"],
    ["/admin/audit", "admin-audit"],
    ["/acme", "owner"],
    ["/admin", "owner"],
    ["/demo/hello/settings", "repo-settings"],
  ])("%s is the %s page", (path, page) => {
    expect(parseRoute(path)?.page).toBe(page);
  });

  it("splits nothing it cannot know: the ref and path stay together for the browser", () => {
    expect(parseRoute("/o/r/blob/feature/x/a%20b.txt")).toEqual({
      page: "repo",
      owner: "o",
      repo: "r",
      view: "blob",
      rest: ["feature", "x", "a b.txt"],
    });
  });

  it.each([
    "/api/repos",
    "/api/demo/hello/tree/abc",
    "/internal/tasks/x/events",
    "/metrics",
    "/demo/hello.git",
    "/demo/hello.git/info/refs",
    "/demo/hello/tree",
    "/demo/hello/tree/main//x",
    "/demo/hello/nope",
    "/demo/hello/settings/x",
    "/settings",
    "/orgs",
    "/api",
    "/_astro",
    "/-x",
    "/_astro/app.js",
    "/%E0%A4%A",
  ])("%s is not a page", (path) => {
    expect(parseRoute(path)).toBeUndefined();
  });
});

describe("pages", () => {
  it("serves the shell with a strict CSP, no caching of the page and no inline script", async () => {
    const res = await get("/site/site/tree/main/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(res.headers.get("content-security-policy")).toBe(PAGE_CSP);
    expect(PAGE_CSP).toContain("default-src 'self'");
    expect(PAGE_CSP).toContain("script-src 'self'");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("set-cookie")).toBeNull();
    const html = await res.text();
    expect(html).toContain("<title>site/site · Plue</title>");
    expect(html).toMatch(/<script type="module" src="\/_astro\/app\.[A-Z0-9]+\.js"><\/script>/);
    expect(html).not.toMatch(/<script>|\son\w+=/); // nothing inline for the CSP to refuse
  });

  it("escapes names in the title", async () => {
    const html = await (await get("/a-b/x.y/runs")).text();
    expect(html).toContain("<title>Runs · a-b/x.y · Plue</title>");
  });

  it("serves assets under hashed names, immutable, and 404s unknown ones", async () => {
    const html = await (await get("/")).text();
    const script = /src="(\/_astro\/[^"]+)"/.exec(html)![1]!;
    const style = /href="(\/_astro\/[^"]+\.css)"/.exec(html)![1]!;
    for (const [url, type] of [
      [script, "text/javascript; charset=utf-8"],
      [style, "text/css; charset=utf-8"],
    ] as const) {
      const res = await get(url);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe(type);
      expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
    // The browser bundle carries the wire protocol's event names, not its zod schemas.
    const js = await (await get(script)).text();
    expect(js).toContain('"tool_start"');
    expect(js).not.toContain("ZodError");
    expect((await get("/_astro/app.NOPE.js")).status).toBe(404);
  });

  it("never shadows the API, git smart HTTP or metrics", async () => {
    expect((await get("/api/no-such-route")).headers.get("content-type")).toMatch(/json/);
    expect((await get("/metrics")).headers.get("content-type")).toMatch(/text\/plain/);
    const refs = await get("/admin/site.git/info/refs?service=git-upload-pack", {
      headers: { authorization: `Basic ${Buffer.from(`x-access-token:${p.token}`).toString("base64")}` },
    });
    expect(refs.status).toBe(200);
    expect(refs.headers.get("content-type")).toBe("application/x-git-upload-pack-advertisement");
    const notPage = await get("/admin/site/nope");
    expect(notPage.status).toBe(404);
    expect(notPage.headers.get("content-type")).toMatch(/json/);
  });
});

describe("GET /api/repos/:owner/:repo/refs", () => {
  it("lists branches and tags with their commits (annotated tags peeled, tree tags left out)", async () => {
    const res = await get("/api/repos/admin/site/refs");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("public, max-age=5");
    expect(await res.json()).toEqual({
      default_branch: "main",
      branches: [
        { name: "feature/x", commit },
        { name: "main", commit },
      ],
      tags: [{ name: "v1", commit }],
      truncated: false,
    });
  });

  it("answers a private repository only to who may read it", async () => {
    expect((await get("/api/repos/admin/hidden/refs")).status).toBe(404);
    const res = await get("/api/repos/admin/hidden/refs", { headers: bearer() });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("private, max-age=5");
    expect(await res.json()).toMatchObject({ branches: [], tags: [] });
  });
});

describe("GET /api/repos/:owner/:repo/markdown/:sha/*path", () => {
  it("of a private repository: kept by no shared cache and revalidated by the browser", async () => {
    const patch = (visibility: string) =>
      fetch(`${p.url}/api/repos/admin/site`, {
        method: "PATCH",
        headers: { ...bearer(), "content-type": "application/json" },
        body: JSON.stringify({ visibility }),
      });
    expect((await patch("private")).status).toBe(200);
    try {
      const path = `/api/repos/admin/site/markdown/${commit}/docs/guide.md`;
      expect((await get(path)).status).toBe(404);
      const res = await get(path, { headers: bearer() });
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("private, no-cache");
    } finally {
      expect((await patch("public")).status).toBe(200);
    }
  });

  it("renders sanitised HTML with links into the repository, immutable by commit", async () => {
    const res = await get(`/api/repos/admin/site/markdown/${commit}/docs/guide.md`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const { html } = (await res.json()) as { html: string };
    expect(html).toContain("<h1>Guide</h1>");
    expect(html).toContain(`href="/admin/site/blob/${commit}/docs/other.md"`);
    expect(html).toContain(`href="/admin/site/blob/${commit}/README.md"`);
    expect(html).toContain(`href="/admin/site/blob/${commit}/src/a.ts#L2"`);
    expect(html).toContain('href="#"'); // ../../x leaves the repository
    expect(html).toContain('href="https://example.com/" rel="nofollow noopener noreferrer"');
    expect(html).toContain(`src="/api/admin/site/blob/${commit}/docs/img/logo.png"`);
    // An image on another host becomes a link: the page loads nothing from elsewhere.
    expect(html).toContain(
      '<a href="https://tracker.example.com/p.gif" rel="nofollow noopener noreferrer">remote</a>',
    );
    expect(html).toMatch(/<input type="checkbox" disabled(="")? checked(="")? \/?>/);
    for (const bad of ["<script", "onerror", "onclick", "javascript:", "<iframe", "style="]) {
      expect(html).not.toContain(bad);
    }
  });

  it("refuses bad input clearly", async () => {
    expect((await get(`/api/repos/admin/site/markdown/main/README.md`)).status).toBe(400);
    expect((await get(`/api/repos/admin/site/markdown/${commit}/nope.md`)).status).toBe(404);
    expect((await get(`/api/repos/admin/site/markdown/${commit}/docs`)).status).toBe(404);
    expect((await get(`/api/repos/admin/hidden/markdown/${commit}/README.md`)).status).toBe(404);
  });

  it("keeps anchors and leaves absolute links alone", () => {
    const html = markdownToSafeHtml("[a](#x) [b](mailto:a@b.c)", {
      owner: "o",
      repo: "r",
      commit: "c",
      dir: "",
    });
    expect(html).toContain('href="#x"');
    expect(html).toContain('href="mailto:a@b.c"');
  });
});

describe("GET /api/config", () => {
  it("says who is signed in and that agents need ANTHROPIC_API_KEY", async () => {
    const anon = await (await get("/api/config")).json();
    expect(anon).toMatchObject({ user: null, agents: { configured: false } });
    expect(anon.agents.message).toContain("ANTHROPIC_API_KEY");
    const res = await get("/api/config", { headers: bearer() });
    expect(res.headers.get("cache-control")).toBe("private, no-store");
    expect(await res.json()).toMatchObject({ user: { username: "admin", admin: true } });
    expect((await get("/api/config", { headers: { authorization: "Bearer nope" } })).status).toBe(401);
  });
});
