import type pg from 'pg';

/** Every job the ledger has a run of, sorted: to tell a user whose --job matches none what there is. */
export async function jobNames(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ job: string }>(`SELECT DISTINCT job FROM batchinfer.runs ORDER BY job`);
  return rows.map((r) => r.job);
}

/** `; the ledger has runs of a, b` when `job` is not among them (a typo in --job), else ''. */
export async function unknownJobNote(client: pg.ClientBase, job: string | undefined): Promise<string> {
  if (job === undefined) return '';
  const names = await jobNames(client);
  if (names.includes(job)) return '';
  return names.length ? `; no run of job ${job} in the ledger, which has runs of ${names.join(', ')}` : '';
}
