import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { testWorkspace } from '../support/jobs.js';
import { freePort } from '../support/ports.js';
import { startUi, type UiProcess } from '../support/ui.js';

/** `batchinfer ui` as started from a shell: where it binds, and what it asks of a network address. */
const ws = testWorkspace('ui-cli');
const token = 'ci-token-0123456789abcdef';
const started: UiProcess[] = [];
afterAll(async () => {
  await Promise.all(started.map((u) => u.stop()));
});

describe('batchinfer ui', () => {
  it(
    'on a network address without BATCHINFER_UI_TOKEN: refuses to start, exit 2, one line naming the variable',
    ws.track(async () => {
      const r = await runCli(['ui', '--host', '0.0.0.0', '--port', String(await freePort()), '--database-url', ws.db.url], { env: { BATCHINFER_UI_TOKEN: undefined }, timeoutMs: 20_000 });
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/--host 0\.0\.0\.0 .*set BATCHINFER_UI_TOKEN/);
      const short = await runCli(['ui', '--host', '0.0.0.0', '--database-url', ws.db.url], { env: { BATCHINFER_UI_TOKEN: 'short' }, timeoutMs: 20_000 });
      expect(short.code).toBe(2);
      expect(short.stderr).toContain('BATCHINFER_UI_TOKEN: too short');
      const port = await runCli(['ui', '--port', 'http', '--database-url', ws.db.url], { timeoutMs: 20_000 });
      expect(port.code).toBe(2);
      expect(port.stderr).toContain('--port http: not a port');
    }),
  );

  it(
    'on 0.0.0.0 with a token: a request without it gets 401, with it 200',
    ws.track(async () => {
      const ui = await startUi(['--host', '0.0.0.0', '--port', String(await freePort()), '--database-url', ws.db.url], { BATCHINFER_UI_TOKEN: token });
      started.push(ui);
      expect(ui.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+\/$/);
      const local = ui.url.replace('0.0.0.0', '127.0.0.1');
      expect((await fetch(`${local}api/runs`)).status).toBe(401);
      expect((await fetch(local)).status).toBe(401);
      const ok = await fetch(`${local}api/runs`, { headers: { Authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      // A database no run has used yet: an empty list, not an error.
      expect(await ok.json()).toEqual({ runs: [], jobs: [] });
      await ui.stop();
      expect(ui.child.exitCode).toBe(0);
      // it scores nothing, so its stop line says nothing of chunks
      expect(ui.output()).toMatch(/batchinfer: SIGTERM: stopping \(again to force\)/);
      expect(ui.output()).not.toMatch(/chunks in flight/);
    }),
  );

  it(
    'binds 127.0.0.1 by default, and needs no token there',
    ws.track(async () => {
      const ui = await startUi(['--port', String(await freePort()), '--database-url', ws.db.url], { BATCHINFER_UI_TOKEN: undefined });
      started.push(ui);
      expect(ui.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect((await fetch(`${ui.url}api/runs`)).status).toBe(200);
      const page = await fetch(ui.url);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<title>batchinfer: runs</title>');
    }),
  );
});
