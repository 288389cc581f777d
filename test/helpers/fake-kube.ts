/**
 * A small stand-in for the Kubernetes API server — only what the Kubernetes executor calls, in the
 * real wire format: create/get/list/delete/merge-patch of Pods and Jobs in a namespace, label
 * selectors, `Status` errors (404 NotFound, 409 AlreadyExists), and `?watch=true` streams of
 * newline-delimited `{"type","object"}` events (ADDED for what exists, then live changes).
 * Like the Job controller, it can start a pod for each Job created. Every request is recorded.
 */
import { randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are free-form JSON here
type Obj = any;
type Kind = "pods" | "jobs";

export interface RecordedKubeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  body?: Obj;
}

export interface FakeKube {
  readonly url: string;
  readonly requests: RecordedKubeRequest[];
  /** A KubeConfig pointing at this server (what `loadFromDefault` would give). */
  kubeConfig(): KubeConfig;
  /** Stored objects of a kind in a namespace. */
  list(kind: Kind, namespace: string): Obj[];
  get(kind: Kind, namespace: string, name: string): Obj | undefined;
  /** Creates or replaces an object as a controller would (emits ADDED / MODIFIED). */
  put(kind: Kind, namespace: string, obj: Obj): Obj;
  /** Changes an object in place (emits MODIFIED). */
  update(kind: Kind, namespace: string, name: string, change: (o: Obj) => void): Obj;
  /** Removes an object (emits DELETED). */
  remove(kind: Kind, namespace: string, name: string): void;
  /** Open watch streams. */
  readonly watchers: number;
  /** Ends every watch stream (clients must reconnect). */
  dropWatches(): void;
  close(): Promise<void>;
}

export interface FakeKubeOptions {
  /** Start a pod for each Job created, as the Job controller does. @default true */
  readonly jobController?: boolean;
}

interface Watcher {
  kind: Kind;
  namespace: string;
  selector: string | undefined;
  res: http.ServerResponse;
}

export async function startFakeKube(opts: FakeKubeOptions = {}): Promise<FakeKube> {
  const store = new Map<string, Map<string, Obj>>(); // `${kind}/${ns}` → name → object
  const requests: RecordedKubeRequest[] = [];
  const watchers = new Set<Watcher>();
  let version = 1;

  const bucket = (kind: Kind, ns: string) => {
    const key = `${kind}/${ns}`;
    if (!store.has(key)) store.set(key, new Map());
    return store.get(key)!;
  };
  const emit = (kind: Kind, ns: string, type: string, obj: Obj) => {
    for (const w of watchers) {
      if (w.kind === kind && w.namespace === ns && matches(obj, w.selector)) {
        w.res.write(`${JSON.stringify({ type, object: obj })}\n`);
      }
    }
  };
  const put = (kind: Kind, ns: string, obj: Obj): Obj => {
    const b = bucket(kind, ns);
    const existed = b.has(obj.metadata.name);
    obj.metadata = {
      namespace: ns,
      uid: randomUUID(),
      creationTimestamp: new Date().toISOString(),
      ...obj.metadata,
    };
    obj.metadata.resourceVersion = String(++version);
    b.set(obj.metadata.name, obj);
    emit(kind, ns, existed ? "MODIFIED" : "ADDED", obj);
    return obj;
  };
  const remove = (kind: Kind, ns: string, name: string) => {
    const b = bucket(kind, ns);
    const obj = b.get(name);
    if (!obj) return undefined;
    b.delete(name);
    obj.metadata.resourceVersion = String(++version);
    emit(kind, ns, "DELETED", obj);
    if (kind === "jobs") {
      // Background propagation: the Job's pods go with it (their owner reference).
      for (const pod of [...bucket("pods", ns).values()]) {
        if (pod.metadata.ownerReferences?.some((o: Obj) => o.uid === obj.metadata.uid))
          remove("pods", ns, pod.metadata.name);
      }
    }
    return obj;
  };
  const startJobPod = (ns: string, job: Obj) => {
    const t = job.spec.template;
    put("pods", ns, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: `${job.metadata.name}-${randomBytes(3).toString("hex").slice(0, 5)}`,
        labels: { ...t.metadata?.labels, "job-name": job.metadata.name },
        annotations: t.metadata?.annotations,
        ownerReferences: [
          {
            apiVersion: "batch/v1",
            kind: "Job",
            name: job.metadata.name,
            uid: job.metadata.uid,
            controller: true,
          },
        ],
      },
      spec: t.spec,
      status: { phase: "Pending" },
    });
  };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://fake");
    const query = Object.fromEntries(url.searchParams);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const body = text ? JSON.parse(text) : undefined;
    requests.push({
      method: req.method!,
      path: url.pathname,
      query,
      contentType: req.headers["content-type"],
      body,
    });

    const m =
      url.pathname.match(/^\/api\/v1\/namespaces\/([^/]+)\/(pods)(?:\/([^/]+))?$/) ??
      url.pathname.match(/^\/apis\/batch\/v1\/namespaces\/([^/]+)\/(jobs)(?:\/([^/]+))?$/);
    if (!m)
      return status(res, 404, "NotFound", `the server could not find the requested resource ${url.pathname}`);
    const [, ns, kind, name] = m as unknown as [string, string, Kind, string | undefined];
    const b = bucket(kind, ns);
    const listKind = kind === "pods" ? "PodList" : "JobList";
    const apiVersion = kind === "pods" ? "v1" : "batch/v1";

    if (!name && req.method === "GET" && query.watch === "true") {
      res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
      res.flushHeaders();
      const w: Watcher = { kind, namespace: ns, selector: query.labelSelector, res };
      watchers.add(w);
      for (const obj of b.values())
        if (matches(obj, w.selector)) res.write(`${JSON.stringify({ type: "ADDED", object: obj })}\n`);
      req.on("close", () => watchers.delete(w));
      return;
    }
    if (!name && req.method === "GET") {
      const items = [...b.values()].filter((o) => matches(o, query.labelSelector));
      return json(res, 200, {
        apiVersion,
        kind: listKind,
        metadata: { resourceVersion: String(version) },
        items,
      });
    }
    if (!name && req.method === "POST") {
      if (b.has(body.metadata.name)) {
        return status(res, 409, "AlreadyExists", `${kind} "${body.metadata.name}" already exists`);
      }
      const created = put(kind, ns, { ...body, status: body.status ?? {} });
      if (kind === "jobs" && opts.jobController !== false) startJobPod(ns, created);
      return json(res, 201, created);
    }
    const obj = name ? b.get(name) : undefined;
    if (!obj) return status(res, 404, "NotFound", `${kind} "${name}" not found`);
    if (req.method === "GET") return json(res, 200, obj);
    if (req.method === "DELETE") return json(res, 200, remove(kind, ns, name!));
    if (req.method === "PATCH") {
      if (req.headers["content-type"] !== "application/merge-patch+json") {
        return status(
          res,
          415,
          "UnsupportedMediaType",
          `unsupported patch type ${req.headers["content-type"]}`,
        );
      }
      return json(res, 200, put(kind, ns, mergePatch(obj, body)));
    }
    return status(res, 405, "MethodNotAllowed", `${req.method} is not supported here`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    requests,
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: "fake", server: url, skipTLSVerify: true }],
        users: [{ name: "plue-api", token: "fake-service-account-token" }],
        contexts: [{ name: "fake", cluster: "fake", user: "plue-api" }],
        currentContext: "fake",
      });
      return kc;
    },
    list: (kind, ns) => [...bucket(kind, ns).values()],
    get: (kind, ns, name) => bucket(kind, ns).get(name),
    put,
    update(kind, ns, name, change) {
      const obj = bucket(kind, ns).get(name);
      if (!obj) throw new Error(`fake-kube: no ${kind} ${ns}/${name}`);
      change(obj);
      return put(kind, ns, obj);
    },
    remove: (kind, ns, name) => void remove(kind, ns, name),
    get watchers() {
      return watchers.size;
    },
    dropWatches() {
      for (const w of watchers) w.res.end();
      watchers.clear();
    },
    async close() {
      for (const w of watchers) w.res.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `a=b,c!=d,e` (equality, inequality, existence) — the forms the executor sends. */
function matches(obj: Obj, selector: string | undefined): boolean {
  if (!selector) return true;
  const labels: Record<string, string> = obj.metadata?.labels ?? {};
  return selector.split(",").every((term) => {
    const ne = term.match(/^([^!=]+)!=(.*)$/);
    if (ne) return labels[ne[1]!] !== ne[2];
    const eq = term.match(/^([^=]+)==?(.*)$/);
    if (eq) return labels[eq[1]!] === eq[2];
    return term in labels;
  });
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: Obj, patch: Obj): Obj {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out = target && typeof target === "object" && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function json(res: http.ServerResponse, code: number, body: Obj): void {
  res.writeHead(code, { "content-type": "application/json" }).end(JSON.stringify(body));
}

function status(res: http.ServerResponse, code: number, reason: string, message: string): void {
  json(res, code, {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
  });
}
