import crypto from 'node:crypto';
import type http from 'node:http';

/** Hosts that only this machine reaches: the dashboard may serve them without a token. */
export const loopbackHosts = new Set(['127.0.0.1', 'localhost', '::1']);
export const isLoopback = (host: string) => loopbackHosts.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);

export const sessionCookie = 'batchinfer_ui';

const digest = (text: string) => crypto.createHash('sha256').update(text).digest();
/** Compares in constant time (a digest of each side: the lengths may differ). */
const same = (a: string, b: string) => crypto.timingSafeEqual(digest(a), digest(b));

/**
 * Who may read the dashboard. With a token: requests carrying `Authorization: Bearer <token>`, or the
 * session cookie the login form sets (an HMAC of the token, so the cookie is not the token itself).
 * Without one (loopback only): requests whose Host header names this machine, so a web page elsewhere
 * can't read the dashboard through a DNS name it points at 127.0.0.1 (DNS rebinding).
 */
export class Access {
  private readonly cookieValue: string | undefined;

  constructor(private readonly token: string | undefined) {
    this.cookieValue = token === undefined ? undefined : crypto.createHmac('sha256', token).update('batchinfer ui session v1').digest('base64url');
  }

  get needsToken(): boolean {
    return this.token !== undefined;
  }

  /** Whether the token typed into the login form is the right one. */
  tokenMatches(candidate: string): boolean {
    return this.token !== undefined && same(candidate, this.token);
  }

  /** The Set-Cookie header for a session opened by the login form. */
  sessionHeader(): string {
    return `${sessionCookie}=${this.cookieValue}; HttpOnly; SameSite=Strict; Path=/`;
  }

  allowed(req: http.IncomingMessage): boolean {
    if (this.token === undefined) return loopbackHostHeader(req.headers.host);
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      return m !== null && same(m[1], this.token);
    }
    const cookie = cookies(req.headers.cookie).get(sessionCookie);
    return cookie !== undefined && same(cookie, this.cookieValue!);
  }
}

function loopbackHostHeader(host: string | undefined): boolean {
  if (host === undefined) return true; // HTTP/1.0 clients (curl -0); a browser always sends one
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return isLoopback(name.toLowerCase());
}

function cookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}
