/** `plue <command> …`: each command lives in its own module and is loaded only when used. */
type Command = { summary: string; load: () => Promise<{ main(argv: string[]): Promise<number> }> };

const COMMANDS: Record<string, Command> = {
  dev: { summary: "start the local platform", load: () => import("./dev") },
  edge: { summary: "serve the edge Worker locally (Miniflare)", load: () => import("../../edge/dev") },
  serve: { summary: "run the API server (containers, production)", load: () => import("./serve") },
  workflow: { summary: "check workflow files", load: () => import("./workflow") },
  run: { summary: "dispatch a workflow run and follow its log", load: () => import("./run") },
  user: { summary: "add, list, suspend and invite users; make tokens", load: () => import("./user") },
  stack: { summary: "per-engineer Pulumi stacks", load: () => import("./stack") },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name ? COMMANDS[name] : undefined;
  if (!command) {
    const list = Object.entries(COMMANDS)
      .map(([n, c]) => `  plue ${n.padEnd(10)} ${c.summary}`)
      .join("\n");
    process.stderr.write(`${name ? `unknown command "${name}"\n\n` : ""}usage:\n${list}\n`);
    return name === undefined || name === "help" || name === "--help" ? 0 : 2;
  }
  return (await command.load()).main(rest);
}
