/**
 * Whether this process can call the model: the one check the app (web UI status) and the runner
 * share. Kept apart from agent.ts so the app can ask without loading the model SDK.
 */
export function hasModelCredentials(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.ANTHROPIC_API_KEY || env.ANTHROPIC_AUTH_TOKEN);
}
