import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { repoRoot, runCli } from '../support/cli.js';
import { tempDir } from '../support/jobs.js';
import { loadSpec } from '../../src/spec/load-spec.js';

/**
 * Every ```yaml block of the README is a job spec that validates: the schema, the demo model's
 * signature and the demo CSV's header. A block that shows only some keys starts with
 * `# fragment of jobs/wine.yaml` (any spec of the repo) and is laid over that spec, key by key at
 * the top level, before it is checked.
 */
const tmp = tempDir('readme-yaml');
let failed = false;
afterAll(() => {
  if (!failed) tmp.remove();
});

interface Block {
  line: number;
  text: string;
}

function yamlBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```yaml') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end].trim() !== '```') end++;
    blocks.push({ line: start + 1, text: lines.slice(start, end).join('\n') + '\n' });
    i = end;
  }
  return blocks;
}

const fragmentOf = /^#\s*fragment of\s+([^\s:]+)/;

/** The block as a whole spec: itself, or laid over the spec its first line names. */
function wholeSpec(block: Block): string {
  const m = fragmentOf.exec(block.text.split('\n')[0]);
  if (!m) return block.text;
  const base = parse(fs.readFileSync(path.join(repoRoot, m[1]), 'utf8')) as Record<string, unknown>;
  return stringify({ ...base, ...(parse(block.text) as Record<string, unknown>) });
}

describe('README YAML blocks', () => {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const blocks = yamlBlocks(readme);

  it('each one validates as a job spec against the demo model and data (schema, model signature, CSV header)', async () => {
    try {
      expect(blocks.length).toBeGreaterThan(0);
      // A project like the repo's: jobs/ beside models/, the demo CSV under the names the blocks use.
      const jobs = path.join(tmp.dir, 'jobs');
      fs.mkdirSync(path.join(jobs, 'data'), { recursive: true });
      fs.symlinkSync(path.join(repoRoot, 'models'), path.join(tmp.dir, 'models'));
      const csv = fs.readFileSync(path.join(repoRoot, 'jobs/data/wine.csv'));
      for (const name of ['wine.csv', 'wine-2026-11-01.csv']) fs.writeFileSync(path.join(jobs, 'data', name), csv);
      const files = blocks.map((b) => {
        const file = path.join(jobs, `readme-line-${b.line}.yaml`);
        fs.writeFileSync(file, wholeSpec(b));
        return file;
      });
      // The schema alone first: a failure names the README line.
      for (const [i, file] of files.entries()) expect(() => loadSpec(file, tmp.dir, { SOURCE_DATABASE_URL: 'postgres://u@h/db' }), `README.md line ${blocks[i].line}`).not.toThrow();
      const r = await runCli(['validate', '--date', '2026-11-01', ...files], { cwd: tmp.dir, env: { SOURCE_DATABASE_URL: 'postgres://u@h/db' } });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout.trim().split('\n').filter((l) => / ok \(/.test(l))).toHaveLength(files.length);
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  it('.gitignore ignores no tracked file of jobs/ (the demo spec and data ship with the repo)', () => {
    const ignored = execFileSync('git', ['ls-files', '--cached', '--ignored', '--exclude-standard', '--', 'jobs'], { cwd: repoRoot, encoding: 'utf8' });
    expect(ignored.trim()).toBe('');
    expect(execFileSync('git', ['ls-files', 'jobs/wine.yaml'], { cwd: repoRoot, encoding: 'utf8' }).trim()).toBe('jobs/wine.yaml');
  });
});
