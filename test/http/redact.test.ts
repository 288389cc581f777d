/** Redaction, class by class: each header/field name class, each embedded shape, the line hook. */
import { Writable } from "node:stream";
import { createLogger } from "../../app/log";
import { maskUrl, REDACTED, redact, redactLine, scrubText, secretValues } from "../../app/wire/redact";

const SECRET = "s3cr3t-value-0123456789abcdef";

describe("by name", () => {
  it.each([
    "authorization",
    "Authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-plue-task-token",
    "token",
    "runner_token",
    "accessToken",
    "secret",
    "PLUE_POOL_SECRET",
    "client_secret",
    "password",
    "passwd",
    "ANTHROPIC_API_KEY",
    "x-api-key",
    "private_key",
    "credentials",
    "x-plue-signature",
  ])("replaces the value of %s", (name) => {
    expect(redact({ [name]: SECRET })).toEqual({ [name]: REDACTED });
    expect(redact({ nested: [{ [name]: [SECRET, SECRET] }] })).toEqual({ nested: [{ [name]: REDACTED }] });
    expect(redact({ [name]: { value: SECRET } })).toEqual({ [name]: REDACTED });
  });

  it("keeps counts, flags and harmless names", () => {
    const usage = { input_tokens: 12, max_output_tokens: 8192, has_token: true, token: null };
    expect(redact(usage)).toEqual(usage);
    const plain = { workload: "w-1", author: "alice", keyboard: "qwerty", msg: "hello", code: 0 };
    expect(redact(plain)).toEqual(plain);
  });

  it("stops at a bounded depth instead of walking a deep object", () => {
    let deep: unknown = SECRET;
    for (let i = 0; i < 100; i++) deep = { next: deep };
    expect(JSON.stringify(redact(deep))).not.toContain(SECRET);
  });
});

describe("by shape, inside any string", () => {
  it.each([
    ["a URL's password", `postgres://plue:${SECRET}@db:5432/plue`, "postgres://plue:[redacted]@db:5432/plue"],
    ["a bare credential as URL user", `https://${SECRET}@github.com/x`, "https://[redacted]@github.com/x"],
    ["a Bearer credential", `sent Bearer ${SECRET} again`, "sent Bearer [redacted] again"],
    ["a Basic credential", `Basic ${Buffer.from(`x:${SECRET}`).toString("base64")}`, "Basic [redacted]"],
    ["?token=", `/api/x?token=${SECRET}&page=2`, "/api/x?token=[redacted]&page=2"],
    ["&access_token=", `/x?a=1&access_token=${SECRET}`, "/x?a=1&access_token=[redacted]"],
    ["?sig=", `/x?sig=${SECRET}`, "/x?sig=[redacted]"],
    ["a Plue API token", `token plue_${"A".repeat(43)} leaked`, "token [redacted] leaked"],
    ["a task token", `plue_task_${"b".repeat(43)}`, "[redacted]"],
    ["a runner token", `plue_runner_${"c".repeat(43)}`, "[redacted]"],
    ["an invite link", `GET /signup?invite=plinv_${"d".repeat(43)}`, "GET /signup?invite=[redacted]"],
    ["an Anthropic key", `sk-ant-api03-${"d".repeat(40)}`, "[redacted]"],
  ])("cuts %s", (_what, text, expected) => {
    expect(scrubText(text)).toBe(expected);
  });

  it("cuts known secret values wherever they appear, and keeps ordinary text", () => {
    expect(scrubText(`pool secret is ${SECRET}!`, [SECRET])).toBe("pool secret is [redacted]!");
    const ordinary = 'Basic realm="plue", GET /api/repos?page=2&sort=name, plue_x';
    expect(scrubText(ordinary)).toBe(ordinary);
  });
});

describe("the process's own secrets", () => {
  it("are the values of secret-named variables and URL passwords", () => {
    const found = secretValues({
      PLUE_POOL_SECRET: SECRET,
      ANTHROPIC_API_KEY: "sk-ant-key-0123456789",
      DATABASE_URL: "postgres://u:p%40ss-word@db/plue",
      PLUE_METRICS_TOKEN: "short",
      PATH: "/usr/bin",
    });
    expect(found).toEqual(
      expect.arrayContaining([SECRET, "sk-ant-key-0123456789", "p@ss-word", "p%40ss-word"]),
    );
    expect(found).not.toContain("/usr/bin");
    expect(found).not.toContain("short");
  });

  it("maskUrl masks a URL's password and refuses what does not parse", () => {
    expect(maskUrl(`postgres://plue:${SECRET}@db/plue`)).toBe("postgres://plue:[redacted]@db/plue");
    expect(maskUrl("mysql://x")).toBe("mysql://x");
    expect(maskUrl(`postgres://db/plue?sslmode=require&password=${SECRET}`)).toBe(
      "postgres://db/plue?sslmode=require&password=[redacted]",
    );
    expect(maskUrl(`plue:${SECRET}@db`)).toBeUndefined();
    expect(maskUrl(`postgres://db/plue?password=${SECRET}@x`)).toBeUndefined();
  });
});

describe("the logger", () => {
  function capture() {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    return { lines, destination };
  }

  it("redacts every line: fields, child bindings, errors, messages", () => {
    const { lines, destination } = capture();
    const log = createLogger("trace", { destination, secrets: [SECRET] });
    log.child({ token: SECRET }).trace({ headers: { authorization: `Bearer ${SECRET}` } }, "one");
    log.error({ err: new Error(`failed at postgres://u:${SECRET}@db`) }, "two");
    log.info(`three ${SECRET}`);
    expect(lines).toHaveLength(3);
    const all = lines.join("");
    expect(all).not.toContain(SECRET);
    const [one, two, three] = lines.map((l) => JSON.parse(l));
    expect(one).toMatchObject({
      token: REDACTED,
      headers: { authorization: REDACTED },
      msg: "one",
      level: 10,
    });
    expect(two.err.message).toBe("failed at postgres://u:[redacted]@db");
    expect(three.msg).toBe("three [redacted]");
    for (const line of lines) expect(line.endsWith("}\n")).toBe(true);
  });

  it("scrubs a line that is not JSON as text", () => {
    expect(redactLine(`oops Bearer ${SECRET}\n`)).toBe("oops Bearer [redacted]\n");
  });
});
