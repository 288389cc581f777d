/** The file-serving endpoints (refs, tree, blob) against a real server and real repositories. */
import { createApiToken, createUser } from "../../app/auth/tokens";
import { git } from "../../app/git/exec";
import { seedDemo } from "../../app/git/seed";
import { writeCommit } from "../../app/git/write";
import { startTestPlatform, type TestPlatform } from "../helpers/platform";
import { rawGet } from "./client";

let p: TestPlatform;
let commit: string;
let gitDir: string;
let otherToken: string;
const big = Buffer.alloc(5 * 1024 * 1024 + 123, "0123456789abcdef\n");
const binary = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0x02, 0x00, 0xff]);
const lateNul = Buffer.concat([Buffer.alloc(9000, "a"), Buffer.from([0])]);

const api = (path: string, init: RequestInit = {}) => fetch(`${p.url}/api/admin/files${path}`, init);
const oid = (spec: string) => git(["rev-parse", spec], { gitDir }).then((s) => s.trim());
const auth = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  p = await startTestPlatform();
  const admin = { id: 1, username: "admin" };
  const repo = await p.ctx.git.repos.create(admin, { name: "files" });
  gitDir = p.ctx.git.repos.gitDir(repo);
  commit = await writeCommit(gitDir, {
    branch: "main",
    message: "fixture\n",
    files: {
      "README.md": "# files\n",
      "src/a.ts": "export const a = 1;\n",
      "src/deep/b.txt": "b\n",
      "bin/data.bin": binary,
      "big.txt": big,
      "late-nul.txt": lateNul,
      "evil.html": "<script>alert(1)</script>\n",
      "with space.txt": "spaced\n",
      "ü.txt": "unicode\n",
      link: "README.md",
    },
    modes: { link: "120000" },
  });
  await git(["update-ref", "refs/heads/feature/x", commit], { gitDir });
  await git(["tag", "-a", "-m", "v1", "v1", commit], {
    gitDir,
    env: { GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" },
  });
  const secret = await p.ctx.git.repos.create(admin, { name: "secret", visibility: "private" });
  await writeCommit(p.ctx.git.repos.gitDir(secret), {
    branch: "main",
    message: "s\n",
    files: { "s.txt": "s\n" },
  });
  const other = await createUser(p.ctx.db, "eve");
  otherToken = await createApiToken(p.ctx.db, other.id, "t");
});
afterAll(() => p.close());

describe("refs", () => {
  it.each(["main", "feature/x", "v1", "refs/heads/main", "HEAD"])(
    "resolves %s to the commit, cacheable 5 s",
    async (ref) => {
      const r = await api(`/refs/${ref}`);
      expect(r.status).toBe(200);
      expect(r.headers.get("cache-control")).toBe("public, max-age=5");
      expect(await r.json()).toEqual({ commit });
    },
  );

  it("404s an unknown ref and 400s revision syntax", async () => {
    expect((await api("/refs/nope")).status).toBe(404);
    const r = await rawGet(p.url, "/api/admin/files/refs/main~1");
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body.toString()).error.code).toBe("invalid_name");
  });
});

describe("tree", () => {
  it("lists the root (with or without a trailing slash), immutable, ETag = tree id", async () => {
    const rootTree = await oid(`${commit}^{tree}`);
    for (const path of [`/tree/${commit}`, `/tree/${commit}/`]) {
      const r = await api(path);
      expect(r.status).toBe(200);
      expect(r.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(r.headers.get("etag")).toBe(`"${rootTree}"`);
      const entries = (await r.json()) as Array<Record<string, unknown>>;
      expect(entries.map((e) => e.name)).toEqual([
        "README.md",
        "big.txt",
        "bin",
        "evil.html",
        "late-nul.txt",
        "link",
        "src",
        "with space.txt",
        "ü.txt",
      ]);
      expect(entries.find((e) => e.name === "README.md")).toEqual({
        name: "README.md",
        type: "blob",
        mode: "100644",
        sha: await oid(`${commit}:README.md`),
        size: 8,
      });
      expect(entries.find((e) => e.name === "src")).toEqual({
        name: "src",
        type: "tree",
        mode: "040000",
        sha: await oid(`${commit}:src`),
      });
      expect(entries.find((e) => e.name === "link")).toMatchObject({
        type: "symlink",
        mode: "120000",
        size: 9,
      });
    }
  });

  it("lists a subdirectory and answers If-None-Match with 304", async () => {
    const r = await api(`/tree/${commit}/src/deep`);
    expect(await r.json()).toEqual([expect.objectContaining({ name: "b.txt", type: "blob", size: 2 })]);
    const etag = r.headers.get("etag")!;
    expect(etag).toBe(`"${await oid(`${commit}:src/deep`)}"`);
    const again = await api(`/tree/${commit}/src/deep`, { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get("etag")).toBe(etag);
    expect(again.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(await again.text()).toBe("");
  });

  it("404s a file path, a missing path and a missing commit", async () => {
    expect((await api(`/tree/${commit}/README.md`)).status).toBe(404);
    expect((await api(`/tree/${commit}/nope`)).status).toBe(404);
    const r = await api(`/tree/${"e".repeat(40)}`);
    expect(r.status).toBe(404);
    expect((await r.json()).error.message).toMatch(/commit .* not found/);
  });
});

describe("blob", () => {
  it("serves text as text/plain with immutable caching and the blob id as ETag", async () => {
    const r = await api(`/blob/${commit}/src/a.ts`);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("export const a = 1;\n");
    expect(Object.fromEntries(r.headers)).toMatchObject({
      "content-type": "text/plain; charset=utf-8",
      "content-length": "20",
      "cache-control": "public, max-age=31536000, immutable",
      etag: `"${await oid(`${commit}:src/a.ts`)}"`,
      "x-content-type-options": "nosniff",
      "content-security-policy": "sandbox",
    });
  });

  it("never gives user content an active type", async () => {
    const html = await api(`/blob/${commit}/evil.html`);
    expect(html.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    const bin = await api(`/blob/${commit}/bin/data.bin`);
    expect(bin.headers.get("content-type")).toBe("application/octet-stream");
    expect(Buffer.from(await bin.arrayBuffer()).equals(binary)).toBe(true);
    // Sniffing looks at the first 8000 bytes only, as git does.
    expect((await api(`/blob/${commit}/late-nul.txt`)).headers.get("content-type")).toMatch(/^text\/plain/);
  });

  it("serves names with spaces and non-ASCII characters", async () => {
    expect(await (await api(`/blob/${commit}/with%20space.txt`)).text()).toBe("spaced\n");
    expect(await (await api(`/blob/${commit}/${encodeURIComponent("ü.txt")}`)).text()).toBe("unicode\n");
  });

  it("answers If-None-Match with 304 (strong, weak and listed tags), and 200 for others", async () => {
    const etag = `"${await oid(`${commit}:README.md`)}"`;
    for (const inm of [etag, `W/${etag}`, `"x", ${etag}`, "*"]) {
      const r = await api(`/blob/${commit}/README.md`, { headers: { "if-none-match": inm } });
      expect(r.status).toBe(304);
      expect(r.headers.get("etag")).toBe(etag);
      expect(r.headers.get("content-length")).toBeNull();
    }
    expect((await api(`/blob/${commit}/README.md`, { headers: { "if-none-match": '"other"' } })).status).toBe(
      200,
    );
  });

  it("streams a blob of several MB with the right Content-Length", async () => {
    const r = await api(`/blob/${commit}/big.txt`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-length")).toBe(String(big.length));
    expect(r.headers.get("transfer-encoding")).toBeNull();
    const body = Buffer.from(await r.arrayBuffer());
    expect(body.length).toBe(big.length);
    expect(body.equals(big)).toBe(true);
  });

  it("survives a client that leaves mid-blob (the dirty process is replaced)", async () => {
    const controller = new AbortController();
    const r = await api(`/blob/${commit}/big.txt`, { signal: controller.signal });
    const reader = r.body!.getReader();
    await reader.read();
    controller.abort();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = await api(`/blob/${commit}/big.txt`);
    expect(Buffer.from(await again.arrayBuffer()).equals(big)).toBe(true);
  });

  it("answers HEAD with the headers only", async () => {
    const r = await api(`/blob/${commit}/README.md`, { method: "HEAD" });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-length")).toBe("8");
    expect(await r.text()).toBe("");
  });

  it("404s directories, missing paths and unknown commits", async () => {
    expect((await api(`/blob/${commit}/src`)).status).toBe(404);
    expect((await api(`/blob/${commit}/nope.txt`)).status).toBe(404);
    expect((await api(`/blob/${"e".repeat(40)}/README.md`)).status).toBe(404);
    // A tree id is not a commit id, even though `<tree>:<path>` would resolve.
    expect((await api(`/blob/${await oid(`${commit}^{tree}`)}/README.md`)).status).toBe(404);
  });
});

describe("the fast path", () => {
  // Reads skip Express (app/http/fast-files.ts), with or without a token: the same answers.
  it("answers exactly as the Express routes do", async () => {
    const keep = ["content-type", "content-length", "cache-control", "etag", "x-content-type-options"];
    for (const path of [
      `/blob/${commit}/src/a.ts`,
      `/tree/${commit}/src`,
      `/blob/${commit}/nope`,
      `/blob/abc/x`,
    ]) {
      const [anon, authed] = await Promise.all([api(path), api(path, { headers: auth(p.token) })]);
      expect(anon.status).toBe(authed.status);
      expect(await anon.text()).toBe(await authed.text());
      for (const h of keep) expect([h, anon.headers.get(h)]).toEqual([h, authed.headers.get(h)]);
    }
  });

  it("hands failures to Express untouched (no immutable headers on a 404)", async () => {
    const r = await api(`/tree/${commit}/README.md`);
    expect(r.status).toBe(404);
    expect(r.headers.get("cache-control")).toBeNull();
    expect(r.headers.get("etag") ?? "").not.toMatch(/^"[0-9a-f]{40}"$/); // no object ETag
    expect((await r.json()).error.code).toBe("not_found");
  });
});

describe("bad input", () => {
  it.each(["abc123", "main", "HEAD", "z".repeat(40), `${"a".repeat(40)}0`])(
    "400s %s in place of a full commit id, telling the caller to resolve the ref",
    async (sha) => {
      for (const kind of ["blob", "tree"]) {
        const r = await api(`/${kind}/${sha}/README.md`);
        expect(r.status).toBe(400);
        const { error } = await r.json();
        expect(error.code).toBe("commit_sha_required");
        expect(error.message).toMatch(/resolve the ref first.*\/refs\//);
      }
    },
  );

  it.each([
    "../../../../etc/passwd",
    "%2e%2e/%2e%2e/etc/passwd",
    "src/%2e%2e/README.md",
    "..%2f..%2fetc%2fpasswd",
    "src/./a.ts",
    "/etc/passwd",
    "README.md%00.txt",
    "a%0ab",
  ])("400s the traversal %s", async (path) => {
    const r = await rawGet(p.url, `/api/admin/files/blob/${commit}/${path}`);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body.toString()).error.code).toBe("invalid_name");
  });

  it("404s malformed repository names instead of touching the disk", async () => {
    for (const path of [
      "/api/admin/..%2f..%2ffiles/tree/",
      "/api/admin/.files/tree/",
      "/api/%2e%2e/files/tree/",
    ]) {
      const r = await rawGet(p.url, `${path}${commit}`);
      expect(r.status).toBe(404);
    }
  });
});

describe("private repositories", () => {
  it("look exactly like missing ones without access", async () => {
    const path = `/api/admin/secret/refs/main`;
    const [anon, other, missing] = await Promise.all([
      fetch(`${p.url}${path}`),
      fetch(`${p.url}${path}`, { headers: auth(otherToken) }),
      fetch(`${p.url}/api/admin/missing/refs/main`),
    ]);
    expect([anon.status, other.status, missing.status]).toEqual([404, 404, 404]);
    const bodies = await Promise.all([anon.json(), other.json(), missing.json()]);
    expect(bodies.map((b) => b.error.message.replace("missing", "secret"))).toEqual(
      Array(3).fill("repository admin/secret not found"),
    );
  });

  it("are served to their owner with private caching", async () => {
    const ref = await fetch(`${p.url}/api/admin/secret/refs/main`, { headers: auth(p.token) });
    expect(ref.headers.get("cache-control")).toBe("private, max-age=5");
    const { commit: c } = await ref.json();
    const blob = await fetch(`${p.url}/api/admin/secret/blob/${c}/s.txt`, { headers: auth(p.token) });
    expect(blob.status).toBe(200);
    expect(blob.headers.get("cache-control")).toBe("private, no-cache");
    const tree = await fetch(`${p.url}/api/admin/secret/tree/${c}`, { headers: auth(p.token) });
    expect(tree.headers.get("cache-control")).toBe("private, no-cache");
  });

  it("401 a wrong token rather than serving anonymously", async () => {
    const r = await fetch(`${p.url}/api/admin/files/refs/main`, { headers: auth("plue_wrong") });
    expect(r.status).toBe(401);
  });
});

describe("small blobs in memory", () => {
  it("answers repeated reads and revalidations without cat-file, with the same bytes and headers", async () => {
    const reads = { lookup: 0, contents: 0 };
    const objects = p.ctx.git.objects;
    const { lookup, contentsAt } = objects;
    objects.lookup = (...a) => {
      reads.lookup++;
      return lookup.apply(objects, a);
    };
    objects.contentsAt = (...a) => {
      reads.contents++;
      return contentsAt.apply(objects, a);
    };
    try {
      const first = await api(`/blob/${commit}/src/deep/b.txt`);
      expect(reads).toEqual({ lookup: 0, contents: 1 });
      const again = await api(`/blob/${commit}/src/deep/b.txt`);
      const tag = again.headers.get("etag")!;
      const revalidated = await api(`/blob/${commit}/src/deep/b.txt`, { headers: { "if-none-match": tag } });
      expect(reads).toEqual({ lookup: 0, contents: 1 }); // both from memory
      expect([again.status, await again.text(), revalidated.status]).toEqual([200, "b\n", 304]);
      for (const h of ["etag", "cache-control", "content-type", "content-security-policy"]) {
        expect([h, again.headers.get(h)]).toEqual([h, first.headers.get(h)]);
      }
      // Large blobs are streamed each time, never held.
      await (await api(`/blob/${commit}/big.txt`)).arrayBuffer();
      await (await api(`/blob/${commit}/big.txt`)).arrayBuffer();
      expect(reads.contents).toBe(3);
    } finally {
      objects.lookup = lookup;
      objects.contentsAt = contentsAt;
    }
  });

  it("are served only to callers who may read the repository", async () => {
    const ref = await fetch(`${p.url}/api/admin/secret/refs/main`, { headers: auth(p.token) });
    const { commit: c } = await ref.json();
    const url = `${p.url}/api/admin/secret/blob/${c}/s.txt`;
    expect((await fetch(url, { headers: auth(p.token) })).status).toBe(200); // now in memory
    expect((await fetch(url)).status).toBe(404);
    expect((await fetch(url, { headers: auth(otherToken) })).status).toBe(404);
  });
});

describe("cat-file processes", () => {
  it("replace one that was killed", async () => {
    await api(`/tree/${commit}`); // trees are always read from cat-file (small blobs are not)
    const before = p.ctx.git.pool.stats().pids[gitDir]!;
    expect(before.length).toBeGreaterThan(0);
    for (const pid of before) process.kill(pid, "SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 50));
    const r = await api(`/tree/${commit}/src`);
    expect(r.status).toBe(200);
    expect(await r.json()).toContainEqual(expect.objectContaining({ name: "a.ts" }));
    const after = p.ctx.git.pool.stats().pids[gitDir]!;
    expect(after.some((pid) => before.includes(pid))).toBe(false);
  });
});

describe("demo repository", () => {
  it("is seeded idempotently with a README, sources and a subdirectory", async () => {
    const first = await seedDemo(p.ctx.db, p.ctx.git.repos);
    const second = await seedDemo(p.ctx.db, p.ctx.git.repos);
    expect(second.id).toBe(first.id);
    const { commit: c } = await (await fetch(`${p.url}/api/demo/hello/refs/main`)).json();
    const root = (await (await fetch(`${p.url}/api/demo/hello/tree/${c}`)).json()) as Array<{ name: string }>;
    expect(root.map((e) => e.name)).toEqual(expect.arrayContaining(["README.md", "src", "docs"]));
    const sub = await (await fetch(`${p.url}/api/demo/hello/tree/${c}/src/lib`)).json();
    expect(sub).toEqual([expect.objectContaining({ name: "greet.ts", type: "blob" })]);
    const readme = await fetch(`${p.url}/api/demo/hello/blob/${c}/README.md`);
    expect(await readme.text()).toMatch(/^# hello/);
  });
});

describe("repositories API", () => {
  it("creates, lists and shows repositories; validates names; 409 on duplicates", async () => {
    const create = (body: unknown, token = p.token) =>
      fetch(`${p.url}/api/repos`, {
        method: "POST",
        headers: { ...auth(token), "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const r = await create({ name: "made", visibility: "private", default_branch: "trunk" });
    expect(r.status).toBe(201);
    expect(await r.json()).toMatchObject({
      owner: "admin",
      name: "made",
      visibility: "private",
      default_branch: "trunk",
      clone_url: `${p.url}/admin/made.git`,
    });
    expect(
      (await git(["symbolic-ref", "HEAD"], { gitDir: `${p.dataDir}/repos/admin/made.git` })).trim(),
    ).toBe("refs/heads/trunk");
    expect((await create({ name: "MADE" })).status).toBe(409);
    for (const name of ["..", "a/b", "x.git", "", "-x"]) {
      const bad = await create({ name });
      expect(bad.status).toBe(400);
      expect((await bad.json()).error.code).toBe("invalid_name");
    }
    expect((await create({ name: "y", default_branch: "a..b" })).status).toBe(400);
    expect((await fetch(`${p.url}/api/repos`, { method: "POST" })).status).toBe(401);

    const mine = (await (await fetch(`${p.url}/api/repos`, { headers: auth(p.token) })).json()) as Array<{
      name: string;
    }>;
    expect(mine.map((x) => x.name)).toEqual(expect.arrayContaining(["files", "made", "secret"]));
    expect(await (await fetch(`${p.url}/api/repos`, { headers: auth(otherToken) })).json()).toEqual([]);
    expect((await fetch(`${p.url}/api/repos/admin/made`, { headers: auth(p.token) })).status).toBe(200);
    expect((await fetch(`${p.url}/api/repos/admin/made`, { headers: auth(otherToken) })).status).toBe(404);
    expect((await fetch(`${p.url}/api/repos/Admin/Files`)).status).toBe(200);
  });
});
