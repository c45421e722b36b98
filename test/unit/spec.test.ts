import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { loadSpec } from '../../src/spec/load-spec.js';
import { parseLogicalDate, renderTemplate, templateVars } from '../../src/spec/template.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batchinfer-spec-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const BASE = `
model: { path: ../models/m.onnx }
source: { csv: { path: "data/{{ds}}.csv" } }
key: id
inputs: { x: [a, b, c] }
outputs: { score: { output: sum } }
sink: { table: scores.t }
`;

/** Write a spec into the temp dir and load it with the temp dir as cwd (so its label is its file name). */
function load(yaml: string, file = 'job.yaml') {
  fs.writeFileSync(path.join(dir, file), yaml);
  return loadSpec(file, dir);
}

/** The UsageError's message lines. */
function problems(yaml: string, file = 'job.yaml'): string[] {
  try {
    load(yaml, file);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message.split('\n');
  }
  throw new Error('expected loadSpec to fail');
}

describe('loadSpec', () => {
  it('normalizes a minimal spec with its defaults, the name from the file name and paths from the spec dir', () => {
    const spec = load(BASE, 'nightly-scores.yaml');
    expect(spec).toEqual({
      name: 'nightly-scores',
      specPath: path.join(dir, 'nightly-scores.yaml'),
      specLabel: 'nightly-scores.yaml',
      model: { path: path.resolve(dir, '../models/m.onnx'), version: undefined },
      source: { kind: 'csv', path: path.join(dir, 'data/{{ds}}.csv') },
      key: 'id',
      keyType: 'text',
      inputs: [{ name: 'x', columns: ['a', 'b', 'c'] }],
      outputs: [{ column: 'score', output: 'sum', index: undefined }],
      passthrough: [],
      sink: { schema: 'scores', table: 't', onSchemaChange: 'fail' },
      batchSize: 1024,
      chunkRows: 50000,
      maxRejected: 0,
      schedule: undefined,
    });
    const explicit = load(`${BASE}name: my.job\nkey_type: bigint\nbatch_size: 7\nchunk_rows: 9\nmax_rejected: 0.5\nschedule: { cron: "0 2 * * *" }\n`);
    expect(explicit).toMatchObject({ name: 'my.job', keyType: 'bigint', batchSize: 7, chunkRows: 9, maxRejected: 0.5, schedule: { cron: '0 2 * * *', timezone: 'UTC' } });
    const pg = load(BASE.replace('source: { csv: { path: "data/{{ds}}.csv" } }', 'source: { postgres: { query: "SELECT 1" } }'));
    expect(pg.source).toEqual({ kind: 'postgres', query: 'SELECT 1', url: undefined });
  });

  it('reports every problem at once, each line starting with the spec file and the key path', () => {
    const yaml = `
model: { path: m.onnx }
source: { csv: { path: a.csv }, postgres: { query: "SELECT 1" } }
inputs: { x: [a, ""] }
outputs: { score: { output: sum, index: -1 } }
sink: { table: notqualified }
batchsize: 10
key_type: integer
schedule: { cron: "61 * * * *", timezone: Mars/Olympus_Mons }
`;
    const lines = problems(yaml, 'bad.yaml');
    for (const l of lines) expect(l).toMatch(/^bad\.yaml: [a-z_]+[.[\]a-z0-9_]*: /);
    const at = (p: string) => lines.filter((l) => l.startsWith(`bad.yaml: ${p}: `));
    expect(at('batchsize')).toEqual(['bad.yaml: batchsize: unknown key (did you mean "batch_size"?); remove it or fix its spelling']);
    expect(at('key')).toEqual(['bad.yaml: key: missing; add the column that identifies a row (unique per run), e.g. key: id']);
    expect(at('source')).toEqual(['bad.yaml: source: needs exactly one of csv or postgres, e.g. source: { csv: { path: "data/wine-{{ds}}.csv" } } or source: { postgres: { query: "SELECT id, a, b FROM features WHERE day = {{ds}}" } }']);
    expect(at('inputs.x[1]')).toHaveLength(1);
    expect(at('outputs.score.index')).toHaveLength(1);
    expect(at('sink.table')).toEqual(['bad.yaml: sink.table: must be schema.table (plain identifiers), e.g. table: scores.wine']);
    expect(at('key_type')).toHaveLength(1);
    expect(at('schedule.cron')).toEqual(['bad.yaml: schedule.cron: is not a valid cron expression (5 fields, or 6 with seconds first; e.g. "0 2 * * *")']);
    expect(at('schedule.timezone')).toEqual(['bad.yaml: schedule.timezone: is not a known IANA timezone (e.g. UTC, Europe/Berlin)']);
    expect(lines).toHaveLength(9);
  });

  it('suggests the closest known key for nested typos, and none for far-off names', () => {
    const lines = problems(`${BASE}schedule: { cron: "0 2 * * *", timezon: UTC }\nzzzzzz: 1\n`);
    expect(lines).toContain('job.yaml: schedule.timezon: unknown key (did you mean "timezone"?); remove it or fix its spelling');
    expect(lines).toContain('job.yaml: zzzzzz: unknown key; remove it or fix its spelling (keys here: name, model, source, key, key_type, inputs, outputs, passthrough, sink, batch_size, chunk_rows, max_rejected, min_rows, retries, monitoring, retention, schedule)');
    const model = problems(BASE.replace('model: { path: ../models/m.onnx }', 'model: { path: m.onnx, verison: v1 }'));
    expect(model).toEqual(['job.yaml: model.verison: unknown key (did you mean "version"?); remove it or fix its spelling']);
  });

  it('suggests the key inside an output mapping', () => {
    const lines = problems(BASE.replace('outputs: { score: { output: sum } }', 'outputs: { score: { output: sum, idnex: 0 } }'));
    expect(lines).toEqual(['job.yaml: outputs.score.idnex: unknown key (did you mean "index"?); remove it or fix its spelling']);
  });

  it('says what type a key has and what it should have, not that a present key is missing', () => {
    const lines = problems(`${BASE}batch_size: "big"\n`);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^job\.yaml: batch_size: /);
    expect(lines[0]).not.toMatch(/is required/);
    expect(lines[0]).toMatch(/number/);
  });

  it('rejects provenance column names and duplicate result columns (case-insensitively), all at once', () => {
    const yaml = BASE.replace('key: id', 'key: run_id').replace('outputs: { score: { output: sum } }', 'outputs: { score: { output: sum }, SCORE: { output: sum }, Model_Version: { output: sum }, note: { output: sum } }') + 'passthrough: [Scored_At, note, logical_date]\n';
    expect(problems(yaml)).toEqual([
      'job.yaml: key: "run_id" is a column batchinfer adds to every row; pick another name',
      'job.yaml: passthrough[0]: "Scored_At" is a column batchinfer adds to every row; pick another name',
      'job.yaml: passthrough[2]: "logical_date" is a column batchinfer adds to every row; pick another name',
      'job.yaml: outputs.SCORE: result column "SCORE" is also outputs.score; names must be unique',
      'job.yaml: outputs.Model_Version: "Model_Version" is a column batchinfer adds to every row; pick another name',
      'job.yaml: outputs.note: result column "note" is also passthrough[1]; names must be unique',
    ]);
    expect(problems(BASE + 'passthrough: [id]\n')).toEqual(['job.yaml: passthrough[0]: result column "id" is also key; names must be unique']);
  });

  it('reports YAML syntax errors with the line they are on', () => {
    expect(problems(`${BASE}batch_size: 1\nbatch_size: 2\n`)).toEqual(['job.yaml:9: YAML syntax: Map keys must be unique: "batch_size" is written twice in one mapping; keep one']);
  });

  it('reports an unreadable file and an empty one', () => {
    expect(() => loadSpec('missing.yaml', dir)).toThrow(/^missing\.yaml: cannot read job spec \(ENOENT\)/);
    expect(problems('')).toContain('job.yaml: model: missing; add a mapping with the model file, e.g. model: { path: ../models/wine/model.onnx }');
  });
});

describe('schedule keys', () => {
  it('default to previous_day, no catch-up (limit 7) and overlap skip; every key normalized', () => {
    expect(load(`${BASE}schedule: { cron: "0 2 * * *" }\n`).schedule).toEqual({ cron: '0 2 * * *', timezone: 'UTC', logicalDate: 'previous_day', catchup: false, catchupLimit: 7, overlap: 'skip' });
    expect(load(`${BASE}schedule: { cron: "*/30 * * * * *", timezone: Europe/Berlin, logical_date: tick_date, catchup: true, catchup_limit: 3, overlap: queue }\n`).schedule).toEqual({
      cron: '*/30 * * * * *', timezone: 'Europe/Berlin', logicalDate: 'tick_date', catchup: true, catchupLimit: 3, overlap: 'queue',
    });
  });

  it('name the file and key of each bad value, with what to write instead', () => {
    const lines = problems(`${BASE}schedule: { cron: "0 0 1 1 0#5", catchup_limit: 0, overlap: wait, catchupp: true }\n`);
    expect(lines).toEqual([
      'job.yaml: schedule.cron: never ticks (no date matches "0 0 1 1 0#5"; day-of-month and day-of-week must both match)',
      'job.yaml: schedule.catchup_limit: must be a whole number >= 1: how many missed ticks (the newest) a starting scheduler makes up',
      'job.yaml: schedule.overlap: must be skip (the default: no run while the previous one is active) or queue (a run anyway)',
      'job.yaml: schedule.catchupp: unknown key (did you mean "catchup"?); remove it or fix its spelling',
    ]);
  });
});

describe('templates and logical dates', () => {
  it('renders {{ds}} and {{ds_nodash}}, with or without spaces; without an interval, the data interval is the date in UTC', () => {
    const vars = templateVars('2026-11-01');
    expect(vars).toEqual({ ds: '2026-11-01', ds_nodash: '20261101', data_interval_start: '2026-11-01T00:00:00Z', data_interval_end: '2026-11-02T00:00:00Z' });
    expect(templateVars('2026-11-01', { start: '2026-10-31T01:00:00Z', end: '2026-11-01T01:00:00Z' })).toMatchObject({ data_interval_start: '2026-10-31T01:00:00Z', data_interval_end: '2026-11-01T01:00:00Z' });
    expect(renderTemplate('data/{{ds}}/part-{{ ds_nodash }}.csv', vars, 'x')).toBe('data/2026-11-01/part-20261101.csv');
    expect(renderTemplate('no variables', vars, 'x')).toBe('no variables');
  });

  it('names an unknown variable and the known ones', () => {
    expect(() => renderTemplate('data/{{date}}.csv', templateVars('2026-11-01'), 'job.yaml: source.csv.path')).toThrow(
      new UsageError('job.yaml: source.csv.path: unknown template variable {{date}}; known: {{ds}}, {{ds_nodash}}, {{data_interval_start}}, {{data_interval_end}}'),
    );
  });

  it('accepts real dates only', () => {
    expect(parseLogicalDate('2026-11-01')).toBe('2026-11-01');
    expect(parseLogicalDate('2024-02-29')).toBe('2024-02-29');
    for (const bad of ['2026-02-30', '2025-02-29', '2026-13-01', '2026-00-10', '2026-1-01', '26-01-01', '2026-01-01T00:00', '', 'today']) {
      expect(() => parseLogicalDate(bad), bad).toThrow(UsageError);
    }
    expect(() => parseLogicalDate('2026-02-30')).toThrow('--date 2026-02-30: not a valid date; use YYYY-MM-DD, e.g. 2026-11-01');
  });
});
