/**
 * Single sign-on with OpenID Connect (openid-client): the authorization code flow with PKCE, a
 * `state` and a `nonce`, against the issuer PLUE_OIDC_ISSUER names. The provider's metadata is
 * discovered on first use and must name that same issuer; openid-client checks the ID token's
 * issuer, audience, signature, expiry and nonce. People are matched by (issuer, sub) only: an email
 * address is never trusted to link an existing account. openid-client loads on the first sign-on:
 * a server without single sign-on never loads it.
 */
import type * as Oidc from "openid-client";
import { AppError, badRequest } from "../errors";

export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** This server's callback URL (`<public URL>/auth/oidc/callback`), as registered at the provider. */
  redirectUri: () => string;
}

/** What a sign-on in progress keeps in the browser (a short-lived HttpOnly cookie) until its callback. */
export interface OidcFlow {
  state: string;
  nonce: string;
  verifier: string;
  /** A sign-up invite the person started with (PLUE_SIGNUP=invite). */
  invite?: string;
}

/** Who the provider says signed in. */
export interface OidcIdentity {
  issuer: string;
  sub: string;
  /** preferred_username, else email: what a new account's name is derived from. */
  nameHint: string;
  email: string | null;
  fullName: string;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);
const openid = () => import("openid-client");

export class OidcSignIn {
  private configuration?: Promise<Oidc.Configuration>;

  constructor(private readonly settings: OidcSettings) {}

  get issuer(): string {
    return this.settings.issuer;
  }

  /** The discovered configuration; a failure is a 502 and is retried on the next sign-on. */
  private config(): Promise<Oidc.Configuration> {
    this.configuration ??= this.discover().catch((err) => {
      this.configuration = undefined;
      throw err;
    });
    return this.configuration;
  }

  private async discover(): Promise<Oidc.Configuration> {
    const oidc = await openid();
    const { issuer, clientId, clientSecret } = this.settings;
    const url = new URL(issuer);
    // Plain http only for a provider on this machine (tests, local development).
    const execute =
      url.protocol === "http:" && LOOPBACK.has(url.hostname) ? [oidc.allowInsecureRequests] : [];
    try {
      return await oidc.discovery(url, clientId, clientSecret, undefined, { execute });
    } catch (err) {
      throw new AppError(
        502,
        "oidc_unavailable",
        `the sign-on provider ${issuer} could not be used: ${message(err)}`,
      );
    }
  }

  /** Where to send the browser, and what to keep until it comes back. */
  async start(invite?: string): Promise<{ url: string; flow: OidcFlow }> {
    const [oidc, config] = await Promise.all([openid(), this.config()]);
    const flow: OidcFlow = {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      verifier: oidc.randomPKCECodeVerifier(),
      ...(invite ? { invite } : {}),
    };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.settings.redirectUri(),
      scope: "openid profile email",
      state: flow.state,
      nonce: flow.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(flow.verifier),
      code_challenge_method: "S256",
    });
    return { url: url.href, flow };
  }

  /** Checks the callback (state, code with the PKCE verifier, ID token and nonce); a failure is a 400. */
  async finish(callbackUrl: URL, flow: OidcFlow): Promise<OidcIdentity> {
    const [oidc, config] = await Promise.all([openid(), this.config()]);
    let claims: Record<string, unknown> & { iss: string; sub: string };
    try {
      const tokens = await oidc.authorizationCodeGrant(
        config,
        callbackUrl,
        {
          pkceCodeVerifier: flow.verifier,
          expectedState: flow.state,
          expectedNonce: flow.nonce,
          idTokenExpected: true,
        },
        { redirect_uri: this.settings.redirectUri() },
      );
      const idToken = tokens.claims();
      if (!idToken) throw new Error("the provider sent no ID token");
      claims = idToken;
      // Many providers put profile claims only in userinfo: ask it (for the same subject) when the
      // ID token has no name to start from.
      if (
        !str(idToken.preferred_username) &&
        !str(idToken.email) &&
        config.serverMetadata().userinfo_endpoint
      ) {
        const info = await oidc.fetchUserInfo(config, tokens.access_token, idToken.sub);
        claims = { ...info, iss: idToken.iss, sub: idToken.sub };
      }
    } catch (err) {
      throw badRequest(`single sign-on failed: ${message(err)}`, "oidc_failed");
    }
    const email = str(claims.email) ?? null;
    return {
      issuer: claims.iss,
      sub: claims.sub,
      nameHint: str(claims.preferred_username) ?? email ?? "user",
      email,
      fullName: str(claims.name) ?? "",
    };
  }
}

const str = (v: unknown) => (typeof v === "string" && v.length > 0 && v.length <= 200 ? v : undefined);

function message(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.slice(0, 200);
}

/** The flow cookie's value: base64url JSON, parsed defensively (the browser may send anything). */
export function encodeFlow(flow: OidcFlow): string {
  return Buffer.from(JSON.stringify(flow)).toString("base64url");
}

export function decodeFlow(value: string | undefined): OidcFlow | undefined {
  if (!value || value.length > 2000) return undefined;
  try {
    const f = JSON.parse(Buffer.from(value, "base64url").toString("utf8")) as Partial<OidcFlow>;
    const ok = (v: unknown) => typeof v === "string" && v.length > 0 && v.length < 300;
    if (!ok(f.state) || !ok(f.nonce) || !ok(f.verifier) || (f.invite !== undefined && !ok(f.invite)))
      return undefined;
    return {
      state: f.state!,
      nonce: f.nonce!,
      verifier: f.verifier!,
      ...(f.invite ? { invite: f.invite } : {}),
    };
  } catch {
    return undefined;
  }
}
