import pino from "pino";
import { redactLine, secretValues } from "./wire/redact";

export type Logger = pino.Logger;

export interface LoggerOptions {
  /** Where lines go. @default standard output */
  readonly destination?: pino.DestinationStream;
  /** The `service` field of every line. @default "plue" */
  readonly service?: string;
  /** Values cut out of every line wherever they appear. @default this process's secrets (wire/redact.ts) */
  readonly secrets?: readonly string[];
}

/**
 * Structured JSON logs with credentials removed (app/wire/redact.ts); tests pass `silent`.
 *
 * Redaction runs on each finished line (pino's `streamWrite` hook): by then serializers,
 * child-logger bindings and error serialization have all run, so nothing reaches the stream
 * unredacted, whoever logged it and however it was nested. pino's own `redact` only takes fixed
 * paths, and a `formatters.log` hook would see raw objects (an IncomingMessage, an Error) before
 * they are serialized. Costs one JSON parse per line.
 */
export function createLogger(
  level: string = process.env.LOG_LEVEL ?? "info",
  options: LoggerOptions = {},
): Logger {
  const secrets = options.secrets ?? secretValues();
  const opts: pino.LoggerOptions = {
    level,
    base: { service: options.service ?? "plue" },
    hooks: { streamWrite: (line) => redactLine(line, secrets) },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
