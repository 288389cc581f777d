/** Valid assignments for runner tests, built through the wire schema so defaults match the app's. */
import { randomUUID } from "node:crypto";
import { Assignment } from "../../app/wire/protocol";

export function agentAssignment(opts: {
  callbackUrl: string;
  message?: string;
  token?: string;
  limits?: Record<string, number>;
  repo?: { owner: string; name: string; clone_url: string; commit?: string };
  appUrl?: string;
}): Assignment {
  return Assignment.parse({
    workload: {
      id: randomUUID(),
      type: "agent",
      session_id: randomUUID(),
      model: "claude-test",
      messages: [
        { role: "user", parts: [{ type: "text", text: opts.message ?? "List files in current directory" }] },
      ],
      limits: opts.limits ?? {},
      repo: opts.repo,
    },
    token: opts.token ?? "task-token",
    callback_url: opts.callbackUrl,
    app_url: opts.appUrl ?? new URL(opts.callbackUrl).origin,
  });
}
