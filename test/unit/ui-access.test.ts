import type http from 'node:http';
import { describe, expect, it } from 'vitest';
import { Access, isLoopback, sessionCookie } from '../../src/ui/access.js';

const req = (headers: Record<string, string>) => ({ headers }) as unknown as http.IncomingMessage;
const token = 'sixteen-chars-or-more';

describe('dashboard access', () => {
  it('loopback addresses need no token; anything else does', () => {
    for (const h of ['127.0.0.1', 'localhost', '::1', '127.0.0.2']) expect(isLoopback(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '192.168.1.10', 'example.com', '127.0.0.1.example.com']) expect(isLoopback(h), h).toBe(false);
  });

  it('without a token: requests addressed to this machine only (the Host header)', () => {
    const a = new Access(undefined);
    for (const host of ['127.0.0.1:8080', 'localhost:8080', '[::1]:8080', 'LOCALHOST']) expect(a.allowed(req({ host })), host).toBe(true);
    for (const host of ['evil.example:8080', 'evil.example', '10.0.0.1:8080']) expect(a.allowed(req({ host })), host).toBe(false);
  });

  it('with a token: the bearer, or the session cookie (an HMAC, not the token); nothing else', () => {
    const a = new Access(token);
    expect(a.allowed(req({ host: '127.0.0.1' }))).toBe(false);
    expect(a.allowed(req({ authorization: `Bearer ${token}` }))).toBe(true);
    expect(a.allowed(req({ authorization: `bearer ${token}` }))).toBe(true);
    expect(a.allowed(req({ authorization: `Bearer ${token}x` }))).toBe(false);
    expect(a.allowed(req({ authorization: `Basic ${token}` }))).toBe(false);
    const cookie = a.sessionHeader().split(';')[0];
    expect(cookie.startsWith(`${sessionCookie}=`)).toBe(true);
    expect(cookie).not.toContain(token);
    expect(a.sessionHeader()).toMatch(/HttpOnly; SameSite=Strict/);
    expect(a.allowed(req({ cookie: `other=1; ${cookie}` }))).toBe(true);
    expect(a.allowed(req({ cookie: `${sessionCookie}=${token}` }))).toBe(false);
    // Another token's session does not open this one.
    expect(new Access('another-token-of-16+').allowed(req({ cookie }))).toBe(false);
    expect(a.tokenMatches(token)).toBe(true);
    expect(a.tokenMatches('')).toBe(false);
  });
});
