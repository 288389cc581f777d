#!/usr/bin/env node
// Latency the edge Worker adds (Miniflare/workerd in front of a local origin) against hitting the
// origin directly, and cached-hit throughput. Bounded: about 20 s. Run: node bench/edge.mjs
// Everything shares this machine's cores, so read the numbers as relative, not absolute.
import { spawn } from "node:child_process";
import { once } from "node:events";
import http from "node:http";
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import autocannon from "autocannon";
import { register } from "tsx/esm/api";

register();
const { startEdge } = await import("../edge/dev.ts");

const LATENCY_SECONDS = 3;
const THROUGHPUT_SECONDS = 4;

// The origin runs in its own process so it does not compete with autocannon's event loop.
const ORIGIN = `
const http = require("node:http");
const blob = Buffer.alloc(4096, "x");
http.createServer((req, res) => {
  if (req.url.startsWith("/api/demo/hello/blob/")) {
    res.writeHead(200, { "cache-control": "public, max-age=31536000, immutable", etag: '"sha"' });
    res.end(blob);
  } else {
    res.writeHead(200, { "content-type": "application/json", "cache-control": "private" });
    res.end('{"status":"ok"}');
  }
}).listen(0, "127.0.0.1", function () { console.log(this.address().port); });
`;

async function startOrigin() {
  const child = spawn(process.execPath, ["-e", ORIGIN], { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = await once(child.stdout, "data");
  return { url: `http://127.0.0.1:${String(line).trim()}`, close: () => child.kill() };
}

/** Sequential keep-alive GETs for a fixed time; autocannon only reports whole milliseconds. */
async function latency(title, url) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const samples = [];
  const get = () =>
    new Promise((resolve, reject) => {
      http
        .get(url, { agent }, (res) => res.resume().on("end", resolve).on("error", reject))
        .on("error", reject);
    });
  for (let i = 0; i < 50; i++) await get(); // warm up the connection and the JIT
  const until = performance.now() + LATENCY_SECONDS * 1000;
  while (performance.now() < until) {
    const t = performance.now();
    await get();
    samples.push(performance.now() - t);
  }
  agent.destroy();
  samples.sort((a, b) => a - b);
  const at = (q) => Number(samples[Math.floor(q * (samples.length - 1))].toFixed(3));
  return { title, requests: samples.length, p50_ms: at(0.5), p90_ms: at(0.9), p99_ms: at(0.99) };
}

async function throughput(title, url, connections) {
  const r = await autocannon({ url, connections, duration: THROUGHPUT_SECONDS });
  if (r.non2xx || r.errors) throw new Error(`${title}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return {
    title,
    connections,
    "req/s": Math.round(r.requests.average),
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
  };
}

const origin = await startOrigin();
const edge = await startEdge({ originUrl: origin.url, port: 0 });
const blobPath = `/api/demo/hello/blob/${"a".repeat(40)}/README.md`;
try {
  await (await fetch(edge.url + blobPath)).arrayBuffer(); // prime the cache
  const lat = [
    await latency("origin direct (private JSON)", `${origin.url}/api/health`),
    await latency("edge BYPASS (private JSON)", `${edge.url}/api/health`),
    await latency("edge cache HIT (4 KiB blob)", edge.url + blobPath),
  ];
  console.log(`latency, 1 connection, ${LATENCY_SECONDS} s each`);
  console.table(lat);
  console.log(
    `edge adds ${(lat[1].p50_ms - lat[0].p50_ms).toFixed(2)} ms at p50, ${(lat[1].p99_ms - lat[0].p99_ms).toFixed(2)} ms at p99`,
  );
  const tput = [
    await throughput("edge cache HIT (4 KiB blob)", edge.url + blobPath, 10),
    await throughput("origin direct (4 KiB blob)", origin.url + blobPath, 10),
  ];
  console.log(`throughput (autocannon), ${THROUGHPUT_SECONDS} s each`);
  console.table(tput);
  console.log(
    `load average during the run: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
} finally {
  await edge.close();
  origin.close();
}
