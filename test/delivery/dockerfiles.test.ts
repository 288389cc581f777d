/** The images' promises, read from the Dockerfiles with a real Dockerfile parser. */
import fs from "node:fs";
import { DockerfileParser } from "dockerfile-ast";

const BUILD_TOOLS = /\b(build-essential|gcc|g\+\+|make|python3-dev)\b/;

function stages(file: string) {
  const doc = DockerfileParser.parse(fs.readFileSync(file, "utf8"));
  const froms = doc.getFROMs();
  const instructions = doc.getInstructions();
  const last = froms[froms.length - 1]!;
  const finalStage = instructions.filter((i) => i.getRange().start.line >= last.getRange().start.line);
  return { froms, final: finalStage, last };
}

describe.each(["app/Dockerfile", "runner/Dockerfile"])("%s", (file) => {
  const { froms, final, last } = stages(file);
  const args = (kw: string) =>
    final.filter((i) => i.getKeyword() === kw).map((i) => i.getTextContent().slice(kw.length).trim());

  it("is multi-stage and builds the esbuild bundles", () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const all = fs.readFileSync(file, "utf8");
    expect(all).toMatch(/RUN npm run build/);
    expect(args("COPY").some((a) => /--from=build .*dist/.test(a))).toBe(true);
  });

  it("runs on a small Debian base with a pinned tag, never latest", () => {
    for (const f of froms) {
      expect(f.getImageTag()).toBeTruthy();
      expect(f.getImageTag()).not.toBe("latest");
    }
    expect(last.getImageName()).toMatch(/^(node|debian)$/);
    expect(last.getImageTag()).toMatch(/(bookworm-slim)/);
  });

  it("runs as uid 1000, the last USER of the final stage", () => {
    expect(args("USER").at(-1)).toBe("1000:1000");
  });

  it("has no build tools at run time", () => {
    for (const run of args("RUN")) expect(run).not.toMatch(BUILD_TOOLS);
    expect(args("RUN").some((r) => /npm (ci|install)(?!.*--omit=dev)/.test(r))).toBe(false);
  });

  it("declares every place it writes as a volume (read-only root friendly)", () => {
    const volumes = args("VOLUME").join(" ");
    expect(volumes).toContain("/tmp");
    expect(args("ENV").join(" ")).toMatch(/HOME=\/tmp/);
  });

  it("starts through an init that forwards signals", () => {
    expect(args("ENTRYPOINT").join(" ")).toContain("tini");
  });
});

it("the runner image carries git and certificates for its work", () => {
  const { final } = stages("runner/Dockerfile");
  const runs = final.filter((i) => i.getKeyword() === "RUN").map((i) => i.getArgumentsContent() ?? "");
  expect(runs.join(" ")).toMatch(/\bgit\b/);
  expect(runs.join(" ")).toMatch(/ca-certificates/);
});

it(".dockerignore keeps secrets, dependencies and build output out of the context", () => {
  const lines = fs.readFileSync(".dockerignore", "utf8").split("\n");
  for (const entry of ["node_modules", ".git", "dist", ".plue", ".env"]) expect(lines).toContain(entry);
});
