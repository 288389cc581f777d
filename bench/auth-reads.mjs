#!/usr/bin/env node
// Authenticated private reads against anonymous public reads, in one run on one server (issue 17:
// the authenticated ones should reach at least 80% of the anonymous ones), on PGlite and Postgres.
//
//   node bench/auth-reads.mjs [--db pglite,postgres] [--duration 5] [--connections 50] [--threads 2] [--rounds 5]
//
// Per database: `plue dev --memory` (PGlite), or `plue dev` on a fresh database of the Postgres
// server at DATABASE_URL (else the one scripts/postgres.sh starts), LOG_LEVEL=warn. Two repositories
// get the same small fixture pushed over smart HTTP: `pub` (public) and `priv` (private). Measured
// with wrk (apt-get install wrk) in rounds of one measurement each, alternating which goes first,
// so background load hits both alike; the ratio is the median of the rounds' ratios:
//   anonymous      GET /api/admin/pub/blob/<sha>/blob-4k.txt
//   authenticated  GET /api/<owner>/priv/blob/<sha>/blob-4k.txt with a Bearer token: a read
//                  collaborator's when the server has the accounts API (a user, a token, a
//                  collaborator), else the owner's (the admin token)
// Before measuring, the answers are checked (200 with the right bytes, 404 anonymous on `priv`,
// 401 with a wrong token). --express sends the authenticated reads through Express (with a
// cookie), to compare with the fast path. Exit status 1 on an error (a wrong answer, non-2xx under load), never
// for missing the 80% goal. Every process started here is stopped by its pid at the end.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import pg from "pg";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const FILE = "blob-4k.txt";
const { values: args } = parseArgs({
  options: {
    db: { type: "string", default: "pglite,postgres" },
    duration: { type: "string", default: "5" },
    connections: { type: "string", default: "50" },
    threads: { type: "string", default: "2" },
    rounds: { type: "string", default: "5" },
    // Sends the authenticated reads through Express (a cookie does), to see what the fast path saves.
    express: { type: "boolean", default: false },
  },
});

const children = [];
const log = (msg) => process.stderr.write(`auth-reads: ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "plue-bench-auth-"));
const gitEnv = { PATH: process.env.PATH, HOME: scratch, GIT_CONFIG_NOSYSTEM: "1", GIT_TERMINAL_PROMPT: "0" };

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

function stopAll() {
  for (const child of children.reverse()) if (child.exitCode === null) child.kill("SIGTERM");
}
process.on("exit", stopAll);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));

/** A repository with the 4 KiB target among a few hundred files; returns its dir and commit. */
function fixture() {
  const dir = path.join(scratch, "fixture");
  const git = (...a) => execFileSync("git", ["-C", dir, ...a], { env: gitEnv, encoding: "utf8" }).trim();
  fs.mkdirSync(path.join(dir, "src"), { recursive: true });
  execFileSync("git", ["init", "-q", "-b", "main", dir], { env: gitEnv });
  fs.writeFileSync(path.join(dir, FILE), "0123456789abcdef\n".repeat(241).slice(0, 4096));
  for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(dir, "src", `f${i}.txt`), `file ${i}\n`);
  git("add", "-A");
  git("-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-qm", "fixture");
  return { dir, sha: git("rev-parse", "HEAD"), expected: fs.readFileSync(path.join(dir, FILE)) };
}

async function postgresDatabase() {
  const admin =
    process.env.DATABASE_URL ??
    execFileSync(path.join(ROOT, "scripts/postgres.sh"), { encoding: "utf8" }).trim();
  const name = `plue_bench_${randomBytes(4).toString("hex")}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

async function startPlue(kind) {
  const port = await freePort();
  const dataDir = path.join(scratch, `data-${kind}`);
  const database = kind === "postgres" ? await postgresDatabase() : undefined;
  const env = { ...process.env, PLUE_DATA_DIR: dataDir, LOG_LEVEL: "warn", PLUE_SEED_DEMO: "false" };
  delete env.DATABASE_URL;
  if (database) env.DATABASE_URL = database.url;
  const argv = [path.join(ROOT, "bin/plue.js"), "dev", "--port", String(port)];
  if (!database) argv.push("--memory");
  const child = spawn(process.execPath, [...(process.env.PLUE_BENCH_NODE_ARGS?.split(" ") ?? []), ...argv], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const base = `http://127.0.0.1:${port}`;
  const end = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`plue exited (${child.exitCode}):\n${out}`);
    if (Date.now() > end) throw new Error(`plue did not come up:\n${out}`);
    try {
      if ((await fetch(`${base}/api/health`)).ok) break;
    } catch {}
    await sleep(200);
  }
  await sleep(300); // the banner follows the first health answer
  const token = /token\s+(plue_[A-Za-z0-9_-]+)/.exec(out)?.[1];
  if (!token) throw new Error(`no admin token in plue's output:\n${out}`);
  return {
    base,
    token,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      await database?.drop();
    },
  };
}

async function api(plue, method, url, body, token = plue.token) {
  const r = await fetch(`${plue.base}${url}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: r.status, json };
}

async function seed(plue, fx) {
  const me = (await api(plue, "GET", "/api/user")).json?.username ?? "admin";
  for (const [name, visibility] of [
    ["pub", "public"],
    ["priv", "private"],
  ]) {
    const r = await api(plue, "POST", "/api/repos", { name, visibility });
    if (r.status !== 201) throw new Error(`creating ${name}: ${r.status} ${JSON.stringify(r.json)}`);
    execFileSync(
      "git",
      [
        "-C",
        fx.dir,
        "push",
        "-q",
        `http://${me}:${plue.token}@${new URL(plue.base).host}/${me}/${name}.git`,
        "main",
      ],
      { env: gitEnv },
    );
  }
  return { owner: me, reader: await collaborator(plue, me) };
}

/**
 * A second user with a `repo:read` token, collaborator with `read` on `priv`, through the accounts
 * API (the admin creates the user and issues it a token, or the user signs in and makes one).
 * Undefined when this server has no such API yet: the owner's token is measured instead.
 */
async function collaborator(plue, owner) {
  const username = "reader";
  const password = `bench-${randomBytes(12).toString("hex")}`;
  const created = await api(plue, "POST", "/api/admin/users", { username, password });
  if (created.status !== 201) return undefined;
  const body = { name: "bench", scopes: ["repo:read"] };
  const issued = await api(plue, "POST", `/api/admin/users/${username}/tokens`, body);
  const token =
    issued.status === 201 ? issued.json?.token : await signedInToken(plue, username, password, body);
  if (!token) return undefined;
  const shared = await api(plue, "PUT", `/api/repos/${owner}/priv/collaborators/${username}`, {
    permission: "read",
  });
  if (shared.status >= 300) return undefined;
  return { username, token };
}

/** The token a user makes for themself after a password sign-in (cookie session + CSRF token). */
async function signedInToken(plue, username, password, body) {
  const signIn = await fetch(`${plue.base}/api/session`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: plue.base },
    body: JSON.stringify({ username, password }),
  });
  if (!signIn.ok) return undefined;
  const session = await signIn.json();
  const cookie = signIn.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  const r = await fetch(`${plue.base}/api/user/tokens`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      cookie,
      origin: plue.base,
      "x-csrf-token": session.csrf_token ?? "",
    },
    body: JSON.stringify(body),
  });
  return r.status === 201 ? (await r.json()).token : undefined;
}

/** Checks an answer before measuring it: status, and for 200 the exact bytes. */
async function check(url, headers, status, expected) {
  const r = await fetch(url, { headers });
  const body = Buffer.from(await r.arrayBuffer());
  if (r.status !== status)
    throw new Error(`${url}: expected ${status}, got ${r.status} ${body.toString().slice(0, 200)}`);
  if (status === 200 && !body.equals(expected)) throw new Error(`${url}: wrong content`);
  return r.headers;
}

function wrk(url, headers = {}, duration = args.duration) {
  const h = Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
  const out = execFileSync(
    "wrk",
    [`-t${args.threads}`, `-c${args.connections}`, `-d${duration}s`, "--latency", ...h, url],
    { encoding: "utf8", timeout: (Number(duration) + 15) * 1000 },
  );
  const ms = (v) =>
    v.endsWith("us")
      ? Number.parseFloat(v) / 1000
      : v.endsWith("ms")
        ? Number.parseFloat(v)
        : Number.parseFloat(v) * 1000;
  const num = (re) => re.exec(out)?.[1];
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(num(/Requests\/sec:\s+([\d.]+)/)),
    p50: ms(num(/\s50%\s+([\d.]+\w+)/)),
    p99: ms(num(/\s99%\s+([\d.]+\w+)/)),
    errors:
      Number(num(/Non-2xx or 3xx responses:\s+(\d+)/) ?? 0) +
      (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
  };
}

async function measure(kind, fx) {
  log(`${kind}: starting plue`);
  const plue = await startPlue(kind);
  try {
    const { owner, reader } = await seed(plue, fx);
    const anonUrl = `${plue.base}/api/${owner}/pub/blob/${fx.sha}/${FILE}`;
    const authUrl = `${plue.base}/api/${owner}/priv/blob/${fx.sha}/${FILE}`;
    const caller = reader
      ? `collaborator ${reader.username} (read, repo:read token)`
      : `owner ${owner} (admin token)`;
    const auth = {
      Authorization: `Bearer ${reader?.token ?? plue.token}`,
      ...(args.express && { Cookie: "bench=1" }),
    };
    await check(anonUrl, {}, 200, fx.expected);
    await check(authUrl, {}, 404);
    await check(authUrl, { Authorization: "Bearer plue_not-a-token" }, 401);
    const headers = await check(authUrl, auth, 200, fx.expected);
    const etag = headers.get("etag");
    await check(authUrl, { ...auth, "if-none-match": etag }, 304);
    log(
      `${kind}: authenticated as ${caller}; Cache-Control of the private blob: ${headers.get("cache-control")}`,
    );
    log(
      `${kind}: warming up (2 s each); then ${args.rounds} x ${args.duration} s each, ${args.connections} connections`,
    );
    wrk(anonUrl, {}, "2");
    wrk(authUrl, auth, "2");
    const runs = { anonymous: [], authenticated: [] };
    for (let i = 0; i < Number(args.rounds); i++) {
      const pair = [
        ["anonymous", anonUrl, {}],
        ["authenticated", authUrl, auth],
      ];
      if (i % 2 === 1) pair.reverse();
      for (const [name, url, h] of pair) {
        const r = wrk(url, h);
        runs[name].push(r);
        log(
          `${kind} ${name.padEnd(13)} ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, errors ${r.errors} (load ${load()})`,
        );
      }
    }
    return { kind, caller, runs };
  } finally {
    await plue.stop();
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const load = () => fs.readFileSync("/proc/loadavg", "utf8").split(" ")[0];

/** The median of the rounds' req/s, and the worst of their latencies. */
function summary(rounds) {
  return {
    rps: median(rounds.map((r) => r.rps)),
    p50: Math.max(...rounds.map((r) => r.p50)),
    p99: Math.max(...rounds.map((r) => r.p99)),
    errors: rounds.reduce((a, r) => a + r.errors, 0),
  };
}

async function main() {
  execFileSync("sh", ["-c", "command -v wrk"], { stdio: "ignore" });
  const fx = fixture();
  const results = [];
  for (const kind of args.db.split(",").map((s) => s.trim())) {
    if (kind !== "pglite" && kind !== "postgres") throw new Error(`--db: pglite or postgres, not ${kind}`);
    results.push(await measure(kind, fx));
  }
  const lines = [
    `blob by commit sha, 4 KiB, wrk -t${args.threads} -c${args.connections}, ${args.rounds} rounds x ${args.duration} s, medians, ${os.cpus().length} cores, load ${load()}, git ${execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim()}`,
    "database  reads                     req/s   p50 ms   p99 ms  errors",
  ];
  let errors = 0;
  for (const { kind, caller, runs } of results) {
    const anon = summary(runs.anonymous);
    const auth = summary(runs.authenticated);
    errors += anon.errors + auth.errors;
    for (const [label, s] of [
      ["anonymous, public", anon],
      ["authenticated, private", auth],
    ]) {
      lines.push(
        `${kind.padEnd(9)} ${label.padEnd(23)} ${s.rps.toFixed(0).padStart(7)}  ${s.p50.toFixed(2).padStart(7)}  ${s.p99.toFixed(2).padStart(7)}  ${String(s.errors).padStart(6)}`,
      );
    }
    const ratios = runs.authenticated.map((r, i) => r.rps / runs.anonymous[i].rps);
    const ratio = median(ratios);
    lines.push(
      `${kind.padEnd(9)} authenticated / anonymous (median of rounds): ${ratio.toFixed(2)} (goal >= 0.80: ${ratio >= 0.8 ? "met" : "NOT met"}); rounds ${ratios.map((r) => r.toFixed(2)).join(" ")}; as ${caller}`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  if (errors > 0) throw new Error(`${errors} errors under load`);
}

main()
  .catch((err) => {
    process.stderr.write(`auth-reads: ${err.stack ?? err}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    stopAll();
    fs.rmSync(scratch, { recursive: true, force: true });
  });
