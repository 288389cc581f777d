/**
 * The runner's logger: JSON lines on standard error, `service: "runner"`, credentials redacted by
 * the same rules as the app's logs (app/wire/redact.ts; app/log.ts says why each finished line is
 * redacted). A runner holds a task token, and in standby also the pool secret and its runner token.
 */
import pino from "pino";
import { redactLine, secretValues } from "../app/wire/redact";

export type Logger = pino.Logger;

export function createRunnerLogger(level: string, secrets: readonly string[] = secretValues()): Logger {
  return pino(
    {
      level,
      base: { service: "runner" },
      hooks: { streamWrite: (line) => redactLine(line, secrets) },
    },
    pino.destination(2),
  );
}
