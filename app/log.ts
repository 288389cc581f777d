import pino from "pino";

export type Logger = pino.Logger;

/** Structured JSON logs; tests pass `silent`. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({ level, base: { service: "plue" } });
}
