#!/usr/bin/env node
// SSE fan-out: Plue (durable event log + hub + SSE) against the minimal Node SSE hub of
// /work/shared/peers/node-sse-hub.mjs (no persistence), in the same run, same client code.
//
//   node bench/sse.mjs [--subs 200] [--events 5000] [--hub-events 2000] [--rate 1000] [--batch 50]
//                      [--size 200] [--db pglite|postgres]
//
// Both servers run in their own process; this process holds the subscribers (plain node:http,
// one connection each) and the publisher. Two phases per system, each with `--events` events:
//  - burst: published as fast as accepted. The hub gets one POST per event, 8 in flight (its
//    protocol); Plue's runner posts batches of `--batch` events, one POST in flight (seqs are
//    ordered). Latency = POST sent → event received.
//  - paced: `--rate` events/s. Latency = the event's scheduled time → received, so it includes
//    any queueing at the publisher (Plue's runner coalesces what accumulated during a POST).
// Every subscriber checks it got every event once, in order: lost/dup must be 0.
// Plue's database: a fresh Postgres database when PLUE_TEST_POSTGRES_URL is set (the production
// path, LISTEN/NOTIFY), else embedded PGlite (`--db pglite` forces it). Bounded: ~60 s.
import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import http from "node:http";
import { loadavg } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";

const arg = (k, d) => {
  const i = process.argv.indexOf(`--${k}`);
  return i > 0 ? process.argv[i + 1] : d;
};
const SUBS = +arg("subs", 200);
const EVENTS = +arg("events", 5000);
// The hub writes one frame per message per subscriber (~14 µs of its CPU each, measured): 5,000
// messages to 200 subscribers are a million writes, more than this shared 2-core machine does in
// the time budget. Rates (events/s) compare across counts.
const HUB_EVENTS = +arg("hub-events", 2000);
const PHASE_WAIT_MS = 25_000;
const RATE = +arg("rate", 1000);
const BATCH = +arg("batch", 50);
const SIZE = +arg("size", 200);
const HUB_CONC = 8;
const DB = arg("db", process.env.PLUE_TEST_POSTGRES_URL ? "postgres" : "pglite");
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const HUB = `${process.env.PEERS_SCRIPTS ?? "/work/shared/peers"}/node-sse-hub.mjs`;

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const hardStop = setTimeout(() => {
  console.error("bench/sse: hard timeout (150 s)");
  cleanup().finally(() => process.exit(2));
}, 150_000);

const children = [];
let dropDb;
async function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  await Promise.all(children.map((c) => (c.exitCode === null ? once(c, "exit") : null)));
  await dropDb?.();
}

/** `#<phase>|<k>|<t>#` and padding to SIZE bytes: parsed the same way from both servers' frames. */
const payload = (phase, k, t) => {
  const head = `#${phase}|${k}|${t.toFixed(3)}#`;
  return head + "x".repeat(Math.max(0, SIZE - head.length));
};

/**
 * CPU seconds of a process (utime + stime, /proc/<pid>/stat), and of the whole machine (busy
 * jiffies of /proc/stat): with other work sharing the cores, "server CPU per delivered event" is
 * the figure that load does not distort, and `others` says how disturbed a run was.
 */
const TICK = 100;
const procCpu = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (+f[11] + +f[12]) / TICK;
};
const machineBusy = () => {
  const [, ...v] = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/);
  const n = v.map(Number);
  return (n[0] + n[1] + n[2] + n[5] + n[6] + n[7]) / TICK; // user nice system irq softirq steal
};
function cpuMeter(serverPid) {
  const start = { server: procCpu(serverPid), self: process.cpuUsage(), machine: machineBusy(), t: now() };
  return () => {
    const server = procCpu(serverPid) - start.server;
    const u = process.cpuUsage(start.self);
    const self = (u.user + u.system) / 1e6;
    const machine = machineBusy() - start.machine;
    const wall = (now() - start.t) / 1000;
    return { server, self, others: Math.max(0, machine - server - self) / wall };
  };
}

/** Subscribers and their bookkeeping, shared by both systems. */
function createAudience(EVENTS) {
  const phases = new Map(); // phase -> { lat: Float64Array, n, first, last }
  const subs = [];
  const phase = (name) => {
    if (!phases.has(name)) phases.set(name, { lat: new Float64Array(SUBS * EVENTS), n: 0, last: 0 });
    return phases.get(name);
  };
  const subscribe = (url, headers) =>
    new Promise((resolve, reject) => {
      const s = { warm: false, books: new Map(), res: null, ended: false };
      const books = (name) => {
        if (!s.books.has(name))
          s.books.set(name, { seen: new Uint8Array(EVENTS + 1), max: 0, unique: 0, dup: 0, late: 0 });
        return s.books.get(name);
      };
      const req = http.get(
        url,
        { agent: false, headers: { accept: "text/event-stream", ...headers } },
        (res) => {
          if (res.statusCode !== 200) return reject(new Error(`subscribe ${url}: HTTP ${res.statusCode}`));
          s.res = res;
          res.setEncoding("utf8");
          let pending = "";
          res.on("data", (chunk) => {
            pending += chunk;
            let start = 0;
            for (;;) {
              const end = pending.indexOf("\n\n", start);
              if (end < 0) break;
              const frame = pending.slice(start, end);
              start = end + 2;
              const a = frame.indexOf("#");
              if (a < 0) continue; // comments, retry hints, other events
              const b = frame.indexOf("#", a + 1);
              const [name, k, t] = frame.slice(a + 1, b).split("|");
              if (name === "W") {
                s.warm = true;
                continue;
              }
              const received = now();
              const p = phase(name);
              const bk = books(name);
              const idx = +k;
              if (bk.seen[idx]) bk.dup++;
              else {
                bk.seen[idx] = 1;
                bk.unique++;
                if (idx < bk.max) bk.late++; // arrived after a later event: out of order
                bk.max = Math.max(bk.max, idx);
                p.lat[p.n++] = received - +t;
                p.last = received;
              }
            }
            pending = pending.slice(start);
          });
          res.on("end", () => (s.ended = true));
          res.on("error", () => {});
          resolve(s);
        },
      );
      req.on("error", reject);
      subs.push(s);
    });
  return { subs, phases, phase, subscribe, events: EVENTS };
}

function report(system, audience, name, t0, cpu, extra = "") {
  const EVENTS = audience.events;
  const p = audience.phases.get(name) ?? { lat: new Float64Array(0), n: 0, last: t0 };
  const expected = SUBS * EVENTS;
  const sum = (f) =>
    audience.subs.reduce((a, s) => a + f(s.books.get(name) ?? { unique: 0, dup: 0, late: 0 }), 0);
  const lost = sum((b) => EVENTS - b.unique);
  const dup = sum((b) => b.dup);
  const outOfOrder = sum((b) => b.late);
  const l = p.lat.subarray(0, p.n).sort();
  const pct = (q) =>
    l.length ? l[Math.min(l.length - 1, Math.floor((q / 100) * l.length))].toFixed(1) : "NaN";
  const secs = (p.last - t0) / 1000;
  console.log(
    `${system.padEnd(5)} ${name.padEnd(6)} delivered ${String(p.n).padStart(7)}/${expected}` +
      `  ${String(Math.round(p.n / secs)).padStart(7)} ev/s  p50 ${pct(50).padStart(6)} ms  p99 ${pct(99).padStart(7)} ms` +
      `  lost ${lost} dup ${dup} out-of-order ${outOfOrder}${extra}\n` +
      `${"".padEnd(13)}server CPU ${cpu.server.toFixed(2)} s (${((cpu.server * 1e6) / Math.max(1, p.n)).toFixed(1)} µs/delivered event)` +
      `, bench client CPU ${cpu.self.toFixed(2)} s, other processes ${cpu.others.toFixed(2)} cores`,
  );
  return { rate: p.n / secs, p50: +pct(50), p99: +pct(99), lost, dup };
}

async function waitDelivered(audience, name, ms = PHASE_WAIT_MS) {
  const EVENTS = audience.events;
  const deadline = now() + ms;
  while (now() < deadline) {
    const p = audience.phases.get(name);
    if (p && p.n >= SUBS * EVENTS) return;
    await sleep(5);
  }
}

// ---------------------------------------------------------------------------------------------
// The minimal hub.

async function benchHub() {
  const probe = http.createServer().listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address();
  probe.close();
  const child = spawn(process.execPath, [HUB], {
    env: { ...process.env, PORT: String(port) },
    stdio: "ignore",
  });
  children.push(child);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`${base}/pub/probe`, { method: "POST", body: "x" });
      break;
    } catch {
      await sleep(50);
    }
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: HUB_CONC });
  const publish = (body) =>
    new Promise((resolve, reject) => {
      const req = http.request(`${base}/pub/bench`, { method: "POST", agent }, (res) => {
        res.resume();
        res.on("end", resolve);
      });
      req.on("error", reject);
      req.end(body);
    });
  const audience = createAudience(HUB_EVENTS);
  const EVENTS = HUB_EVENTS;
  await Promise.all(Array.from({ length: SUBS }, () => audience.subscribe(`${base}/sub/bench`)));
  while (audience.subs.some((s) => !s.warm)) {
    await publish(payload("W", 0, now()));
    await sleep(20);
  }
  const results = {};
  for (const name of ["burst", "paced"]) {
    const t0 = now();
    const meter = cpuMeter(child.pid);
    let k = 0;
    await Promise.all(
      Array.from({ length: HUB_CONC }, async () => {
        while (k < EVENTS) {
          const i = ++k;
          let t = now();
          if (name === "paced") {
            t = t0 + (i * 1000) / RATE;
            if (t > now()) await sleep(t - now());
          }
          await publish(payload(name, i, t));
        }
      }),
    );
    await waitDelivered(audience, name);
    results[name] = report("hub", audience, name, t0, meter());
  }
  for (const s of audience.subs) s.res?.destroy();
  agent.destroy();
  child.kill("SIGTERM");
  return results;
}

// ---------------------------------------------------------------------------------------------
// Plue: a real platform in a child process; this process plays the runner over HTTP.

async function benchPlue() {
  const env = { ...process.env };
  if (DB === "postgres") {
    const admin = process.env.PLUE_TEST_POSTGRES_URL;
    const name = `plue_bench_${process.pid}`;
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(`CREATE DATABASE ${name}`);
    await c.end();
    const url = new URL(admin);
    url.pathname = `/${name}`;
    env.PLUE_BENCH_DATABASE_URL = url.toString();
    dropDb = async () => {
      const d = new pg.Client({ connectionString: admin });
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await d.end();
    };
  }
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bench/sse-server.ts")], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  children.push(child);
  const messages = [];
  let wake;
  child.on("message", (m) => {
    messages.push(m);
    wake?.();
  });
  const message = async (key) => {
    for (;;) {
      const m = messages.find((x) => key in x);
      if (m) return m;
      await new Promise((r) => (wake = r));
    }
  };
  const { url, token, db } = await message("url");
  const auth = { authorization: `Bearer ${token}` };
  const api = async (method, p, body) => {
    const res = await fetch(url + p, {
      method,
      headers: { ...auth, "content-type": "application/json" },
      body: body && JSON.stringify(body),
    });
    return res.json();
  };
  const session = await api("POST", "/api/sessions", { title: "bench" });
  const audience = createAudience(EVENTS);
  // Streams opened before the run: they wait for it, then start at its first event.
  await Promise.all(
    Array.from({ length: SUBS }, () => audience.subscribe(`${url}/api/sessions/${session.id}/stream`, auth)),
  );
  await api("POST", `/api/sessions/${session.id}/run`, { message: "bench" });
  const { assignment } = await message("assignment");
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let seq = 0;
  let postTimes = [];
  const postStats = () => {
    const l = postTimes.sort((x, y) => x - y);
    postTimes = [];
    return `; POST p50 ${l[Math.floor(l.length / 2)]?.toFixed(1)} ms, p99 ${l[Math.floor(l.length * 0.99)]?.toFixed(1)} ms`;
  };
  const post = (events) =>
    new Promise((resolve, reject) => {
      const sentAt = now();
      const body = JSON.stringify({ events: events.map((e) => ({ seq: ++seq, ...e })) });
      const req = http.request(
        assignment.callback_url,
        {
          method: "POST",
          agent,
          headers: {
            authorization: `Bearer ${assignment.token}`,
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
          },
        },
        (res) => {
          let text = "";
          res.on("data", (d) => (text += d));
          res.on("end", () => {
            postTimes.push(now() - sentAt);
            if (res.statusCode === 200) resolve(JSON.parse(text));
            else reject(new Error(text));
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  const tokenEvent = (text) => ({ type: "token", data: { text } });

  await post([tokenEvent(payload("W", 0, now()))]);
  while (audience.subs.some((s) => !s.warm)) await sleep(5);

  const results = {};
  // burst: batches of BATCH, stamped when their POST is sent.
  {
    const t0 = now();
    const meter = cpuMeter(child.pid);
    let posts = 0;
    for (let k = 1; k <= EVENTS; k += BATCH) {
      const t = now();
      const n = Math.min(BATCH, EVENTS - k + 1);
      await post(Array.from({ length: n }, (_, j) => tokenEvent(payload("burst", k + j, t))));
      posts++;
    }
    await waitDelivered(audience, "burst");
    results.burst = report("plue", audience, "burst", t0, meter(), `  (${posts} POSTs${postStats()})`);
  }
  // paced: events scheduled at RATE/s; each POST carries what is due (the runner's coalescing).
  {
    const t0 = now();
    const meter = cpuMeter(child.pid);
    let sent = 0;
    let posts = 0;
    while (sent < EVENTS) {
      const due = Math.min(EVENTS, Math.floor(((now() - t0) * RATE) / 1000));
      if (due <= sent) {
        await sleep(Math.max(0, t0 + ((sent + 1) * 1000) / RATE - now()));
        continue;
      }
      const n = Math.min(due - sent, 500);
      await post(
        Array.from({ length: n }, (_, j) =>
          tokenEvent(payload("paced", sent + j + 1, t0 + ((sent + j + 1) * 1000) / RATE)),
        ),
      );
      sent += n;
      posts++;
    }
    await waitDelivered(audience, "paced");
    results.paced = report("plue", audience, "paced", t0, meter(), `  (${posts} POSTs${postStats()})`);
  }
  await post([{ type: "done", data: { reason: "end_turn" } }]);
  const deadline = now() + 10_000;
  while (audience.subs.some((s) => !s.ended) && now() < deadline) await sleep(10);
  const ended = audience.subs.filter((s) => s.ended).length;
  console.log(`plue  streams ended cleanly after done: ${ended}/${SUBS}  (database: ${db})`);
  for (const s of audience.subs) s.res?.destroy();
  agent.destroy();
  return results;
}

console.log(
  `bench/sse: ${SUBS} subscribers, Plue ${EVENTS} / hub ${HUB_EVENTS} events per phase, ${SIZE} B payload, paced ${RATE}/s, Plue batch ${BATCH}; ` +
    `load average before: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
);
try {
  const hub = await benchHub();
  const plue = await benchPlue();
  for (const name of ["burst", "paced"]) {
    console.log(
      `ratio  ${name.padEnd(6)} plue/hub delivered ev/s = ${(plue[name].rate / hub[name].rate).toFixed(2)}` +
        `  plue p99 ${plue[name].p99} ms (goal < 50)`,
    );
  }
  console.log(
    `load average after: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
} finally {
  await cleanup();
  clearTimeout(hardStop);
}
