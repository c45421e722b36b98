import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot, runCli } from '../support/cli.js';
import { query } from '../support/database.js';
import { stackFrame, testWorkspace } from '../support/jobs.js';

/**
 * The README from the top, as a new user types it: the quickstart's run, then every command of
 * "Your own model" (init on the demo model and CSV, validate, preview, run, status, prune --dry-run),
 * each printing what the README's comment says.
 */
const ws = testWorkspace('readme-own-model');

function section(readme: string, title: string): string {
  const start = readme.indexOf(`## ${title}\n`);
  expect(start, `README has no "## ${title}" section`).toBeGreaterThanOrEqual(0);
  const end = readme.indexOf('\n## ', start + 3);
  return readme.slice(start, end < 0 ? undefined : end);
}

const shBlocks = (text: string) => [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
/** `npx batchinfer a b   # comment` -> ['a', 'b'] */
const commandsOf = (block: string) =>
  block
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l.startsWith('npx batchinfer '));

let readme: string;
beforeAll(() => {
  readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  // A copy of the demo project, so init writes nowhere in the repository.
  fs.cpSync(path.join(repoRoot, 'jobs'), path.join(ws.tmp.dir, 'jobs'), { recursive: true });
  fs.cpSync(path.join(repoRoot, 'models'), path.join(ws.tmp.dir, 'models'), { recursive: true });
});

describe('README: from the quickstart to your own model', () => {
  it('every command of "Your own model" runs on the demo and prints what the README says', ws.track(async () => {
    const env = { DATABASE_URL: ws.db.url, REDIS_URL: undefined, DEBUG: undefined, BATCHINFER_THREADS: '1' };
    const run = async (cmd: string) => {
      const r = await runCli(cmd.replace(/^npx batchinfer /, '').split(/\s+/), { cwd: ws.tmp.dir, env, timeoutMs: 120_000 });
      expect(r.code, `${cmd}\n${r.stderr}${r.stdout}`).toBe(0);
      expect(r.stderr).not.toMatch(stackFrame);
      return r;
    };

    const quickstart = /npm install && (npx batchinfer run jobs\/wine\.yaml)\s/.exec(shBlocks(section(readme, 'Two commands'))[0]);
    expect(quickstart).not.toBeNull();
    expect((await run(quickstart![1])).stdout).toMatch(/^run \d+ succeeded: 178 rows read, 178 scored, 0 rejected/);

    const steps = commandsOf(shBlocks(section(readme, 'Your own model'))[0]);
    expect(steps).toEqual([
      'npx batchinfer init --model models/wine/model.onnx --csv jobs/data/wine.csv --name my-wine',
      'npx batchinfer validate jobs/my-wine.yaml',
      'npx batchinfer run jobs/my-wine.yaml --preview 5',
      'npx batchinfer run jobs/my-wine.yaml',
      'npx batchinfer status',
      'npx batchinfer prune --dry-run',
    ]);
    const [init, validate, preview, score, status, prune] = steps;

    expect((await run(init)).stdout).toContain('wrote jobs/my-wine.yaml: key id, 13 input columns, 4 result columns (left out: cultivar)');
    // What the README says the spec holds.
    const text = fs.readFileSync(path.join(ws.tmp.dir, 'jobs/my-wine.yaml'), 'utf8');
    expect(parse(text)).toMatchObject({
      name: 'my-wine',
      outputs: { probabilities_0: { index: 0 }, probabilities_1: { index: 1 }, probabilities_2: { index: 2 }, label: { output: 'label' } },
      sink: { table: 'scores.my_wine' },
    });
    expect(Object.values(parse(text).inputs as Record<string, string[]>)[0]).toHaveLength(13);
    expect(text).toContain('# passthrough: [cultivar]');

    expect((await run(validate)).stdout).toMatch(/^jobs\/my-wine\.yaml: ok \(/);

    const shown = (await run(preview)).stdout;
    expect(shown).toMatch(/the first 5 rows; nothing written/);
    expect(shown.split('\n').filter((l) => /^[1-5]\s/.test(l))).toHaveLength(5);
    const [{ n: ledgerRows }] = await query<{ n: number }>(ws.db.url, `SELECT count(*)::int AS n FROM batchinfer.runs WHERE job = 'my-wine'`);
    expect(ledgerRows).toBe(0);

    expect((await run(score)).stdout).toMatch(/^run \d+ succeeded: 178 rows read, 178 scored, 0 rejected/);
    const [{ n: scored }] = await query<{ n: number }>(ws.db.url, 'SELECT count(*)::int AS n FROM scores.my_wine_latest');
    expect(scored).toBe(178);

    const jobs = (await run(status)).stdout.split('\n').slice(1).map((l) => l.split(/\s+/)[0]).filter(Boolean);
    expect(jobs.sort()).toEqual(['my-wine', 'wine-quality']);

    expect((await run(prune)).stdout).toMatch(/^dry run: would delete 0 result rows of 0 runs and 0 rejects/);
  }), 240_000);
});
