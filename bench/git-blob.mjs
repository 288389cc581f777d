#!/usr/bin/env node
// Blob-by-SHA throughput: Plue vs nginx (same file from disk) vs a bare Node server over one
// `git cat-file --batch` pipe, measured in the same run with the same wrk command line.
//
//   node bench/git-blob.mjs [--duration 10] [--connections 50] [--threads 2]
//
// Fixture: /work/shared/peers/make-repo.sh (2,007 files, one packed commit, `fixtures/blob-4k.txt`
// is the 4 KiB target). nginx is configured like the peers' static anchor (sendfile,
// open_file_cache, access_log off, immutable Cache-Control). Plue runs as `plue dev --memory`
// with LOG_LEVEL=warn (no per-request access log, like nginx's `access_log off`); the fixture is
// pushed to it over smart HTTP. Needs Debian's `nginx` and `wrk` (apt-get install nginx wrk).
// Every process started here is stopped by its pid at the end.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PEERS_SCRIPTS = process.env.PEERS_SCRIPTS ?? "/work/shared/peers";
const WORK = process.env.PLUE_BENCH_DIR ?? path.join(os.tmpdir(), "plue-bench");
const FILE = "fixtures/blob-4k.txt";
const { values: args } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "50" },
    threads: { type: "string", default: "2" },
  },
});

const children = [];
const log = (msg) => process.stderr.write(`git-blob: ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function need(bin) {
  try {
    execFileSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" });
  } catch {
    throw new Error(`${bin} is not installed (Debian: apt-get install -y nginx wrk)`);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

function start(name, cmd, argv, env = {}) {
  const full = { ...process.env, ...env };
  for (const [k, v] of Object.entries(full)) if (v === undefined) delete full[k];
  const child = spawn(cmd, argv, { env: full, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  children.push({ name, child });
  return { child, output: () => out };
}

async function waitFor(url, ms, proc) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (proc && proc.child.exitCode !== null)
      throw new Error(`exited (${proc.child.exitCode}):\n${proc.output()}`);
    try {
      const r = await fetch(url);
      if (r.status < 500) return;
    } catch {}
    await sleep(200);
  }
  throw new Error(`${url} did not come up`);
}

function stopAll() {
  for (const { child } of children.reverse()) if (child.exitCode === null) child.kill("SIGTERM");
}
process.on("exit", stopAll);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));

function fixture() {
  if (!fs.existsSync(path.join(WORK, "COMMIT"))) {
    log(`building the fixture in ${WORK}`);
    execFileSync("bash", [path.join(PEERS_SCRIPTS, "make-repo.sh")], {
      env: { ...process.env, PEERS: WORK },
      stdio: "inherit",
    });
  }
  return fs.readFileSync(path.join(WORK, "COMMIT"), "utf8").trim();
}

async function startNginx() {
  const port = await freePort();
  const dir = path.join(WORK, "bench-nginx");
  fs.mkdirSync(path.join(dir, "tmp"), { recursive: true });
  const t = (n) => path.join(dir, "tmp", n);
  fs.writeFileSync(
    path.join(dir, "nginx.conf"),
    `${process.getuid?.() === 0 ? "user root;" : ""}
worker_processes auto;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_timeout 65; keepalive_requests 1000000;
  client_body_temp_path ${t("body")}; proxy_temp_path ${t("proxy")}; fastcgi_temp_path ${t("fastcgi")};
  uwsgi_temp_path ${t("uwsgi")}; scgi_temp_path ${t("scgi")};
  server {
    listen 127.0.0.1:${port};
    root ${WORK}/checkout;
    open_file_cache max=10000 inactive=60s;
    location / { add_header Cache-Control "public, max-age=31536000, immutable"; }
  }
}
`,
  );
  start("nginx", "nginx", ["-p", dir, "-c", path.join(dir, "nginx.conf"), "-e", path.join(dir, "error.log")]);
  const url = `http://127.0.0.1:${port}/${FILE}`;
  await waitFor(url, 10_000);
  return url;
}

async function startNodeCatfile(sha) {
  const port = await freePort();
  start("node-catfile", process.execPath, [path.join(PEERS_SCRIPTS, "node-catfile.mjs")], {
    REPO: path.join(WORK, "repo.git"),
    PORT: String(port),
    HOST: "127.0.0.1",
  });
  const url = `http://127.0.0.1:${port}/api/o/r/blob/${sha}/${FILE}`;
  await waitFor(url, 10_000);
  return url;
}

async function startPlue(sha) {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "plue-bench-data-"));
  const plue = start(
    "plue",
    process.execPath,
    [path.join(ROOT, "bin/plue.js"), "dev", "--memory", "--port", String(port)],
    {
      PLUE_DATA_DIR: dataDir,
      LOG_LEVEL: "warn",
      PLUE_SEED_DEMO: "false",
      DATABASE_URL: undefined, // the embedded database, whatever the caller's environment
    },
  );
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/api/health`, 120_000, plue);
  const token = /plue_[A-Za-z0-9_-]+/.exec(plue.output())?.[0];
  if (!token) throw new Error(`no admin token in plue's output:\n${plue.output()}`);
  const r = await fetch(`${base}/api/repos`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "bench" }),
  });
  if (r.status !== 201) throw new Error(`creating the repository: ${r.status} ${await r.text()}`);
  execFileSync(
    "git",
    [
      `--git-dir=${path.join(WORK, "repo.git")}`,
      "push",
      "-q",
      `http://admin:${token}@127.0.0.1:${port}/admin/bench.git`,
      `${sha}:refs/heads/main`,
    ],
    { env: { PATH: process.env.PATH, HOME: dataDir, GIT_CONFIG_NOSYSTEM: "1", GIT_TERMINAL_PROMPT: "0" } },
  );
  return { url: `${base}/api/admin/bench/blob/${sha}/${FILE}`, dataDir };
}

/** Checks the answer before measuring it: status, and for 200 the exact bytes. */
async function check(url, headers, status, expected) {
  const r = await fetch(url, { headers });
  const body = Buffer.from(await r.arrayBuffer());
  if (r.status !== status) throw new Error(`${url}: expected ${status}, got ${r.status}`);
  if (status === 200 && !body.equals(expected)) throw new Error(`${url}: wrong content`);
  return r.headers.get("etag");
}

function wrk(url, headers = {}, duration = args.duration) {
  const h = Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
  const out = execFileSync(
    "wrk",
    [`-t${args.threads}`, `-c${args.connections}`, `-d${duration}s`, "--latency", ...h, url],
    {
      encoding: "utf8",
      timeout: (Number(duration) + 15) * 1000,
    },
  );
  const ms = (v) =>
    v.endsWith("us")
      ? Number.parseFloat(v) / 1000
      : v.endsWith("ms")
        ? Number.parseFloat(v)
        : Number.parseFloat(v) * 1000;
  const num = (re) => re.exec(out)?.[1];
  const non2xx = Number(num(/Non-2xx or 3xx responses:\s+(\d+)/) ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(num(/Requests\/sec:\s+([\d.]+)/)),
    p50: ms(num(/\s50%\s+([\d.]+\w+)/)),
    p99: ms(num(/\s99%\s+([\d.]+\w+)/)),
    errors: non2xx + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
  };
}

const load = () => fs.readFileSync("/proc/loadavg", "utf8").split(" ")[0];

async function main() {
  need("nginx");
  need("wrk");
  const sha = fixture();
  const expected = fs.readFileSync(path.join(WORK, "checkout", FILE));
  log("starting nginx, node-catfile and plue");
  const nginx = await startNginx();
  const nodeCatfile = await startNodeCatfile(sha);
  const plue = await startPlue(sha);

  const targets = { nginx, "node-catfile": nodeCatfile, plue: plue.url };
  const etags = {};
  for (const [name, url] of Object.entries(targets)) {
    etags[name] = await check(url, {}, 200, expected);
    await check(url, { "if-none-match": etags[name] }, 304);
  }
  log(`warming up (2 s each); then ${args.duration} s per measurement, ${args.connections} connections`);
  for (const url of Object.values(targets)) wrk(url, {}, "2");

  const results = [];
  // Interleaved, so a change in the machine's background load hits every server alike.
  for (const kind of ["200", "304"]) {
    for (const name of ["nginx", "plue", "node-catfile"]) {
      const headers = kind === "304" ? { "If-None-Match": etags[name] } : {};
      const loadBefore = load();
      const r = wrk(targets[name], headers);
      results.push({ server: name, kind, ...r, loadBefore });
      log(
        `${name.padEnd(13)} ${kind}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms (load ${loadBefore})`,
      );
    }
  }

  const get = (server, kind) => results.find((r) => r.server === server && r.kind === kind);
  const lines = [
    `blob-by-SHA, 4 KiB file, ${args.connections} connections, ${args.duration} s each, ${os.cpus().length} cores, wrk -t${args.threads}`,
    "server        kind   req/s     p50 ms   p99 ms   errors  vs nginx",
  ];
  for (const r of results) {
    const ratio = r.rps / get("nginx", r.kind).rps;
    lines.push(
      `${r.server.padEnd(13)} ${r.kind.padEnd(6)} ${r.rps.toFixed(0).padStart(7)}  ${r.p50.toFixed(2).padStart(7)}  ${r.p99.toFixed(2).padStart(7)}  ${String(r.errors).padStart(6)}  ${(ratio * 100).toFixed(0).padStart(5)}%`,
    );
  }
  const p200 = get("plue", "200");
  const p304 = get("plue", "304");
  lines.push(
    `plue 200: ${((p200.rps / get("nginx", "200").rps) * 100).toFixed(0)}% of nginx (goal >= 50%), p99 ${p200.p99.toFixed(1)} ms (goal < 20 ms); ` +
      `304 vs 200: ${(p304.rps / p200.rps).toFixed(2)}x (goal >= 1)`,
  );
  process.stdout.write(`${lines.join("\n")}\n`);
  fs.writeFileSync(
    path.join(WORK, "git-blob-results.json"),
    JSON.stringify({ at: new Date().toISOString(), args, results }, null, 2),
  );
  fs.rmSync(plue.dataDir, { recursive: true, force: true });
}

main()
  .catch((err) => {
    process.stderr.write(`git-blob: ${err.stack ?? err}\n`);
    process.exitCode = 1;
  })
  .finally(stopAll);
