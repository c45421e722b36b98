import { loadSpec } from '../../spec/load-spec.js';
import { checkJob } from '../../execute/prepare-run.js';
import { parseLogicalDate, templateVars, todayUtc } from '../../spec/template.js';
import { bindTemplate } from '../../sources/postgres-query.js';
import { errorMessage } from '../../errors.js';
import { print, type CommandIO } from '../io.js';
import { resolveDatabaseUrl } from '../settings.js';

/** batchinfer validate <spec...>: spec, model signature and source header checked; nothing written. */
export async function validateCommand(specPaths: string[], flags: { date?: string; databaseUrl?: string; showSql?: boolean }, io: CommandIO): Promise<number> {
  const logicalDate = flags.date !== undefined ? parseLogicalDate(flags.date) : todayUtc();
  let bad = 0;
  for (const p of specPaths) {
    try {
      const spec = loadSpec(p, io.cwd, io.env);
      // Only a Postgres source reading from the results database needs a database to validate.
      const needsDb = spec.source.kind === 'postgres' && !spec.source.url;
      const { model, outputs } = await checkJob(spec, logicalDate, needsDb ? (await resolveDatabaseUrl(flags.databaseUrl, io, p)).url : '');
      print(io.stdout, `${spec.specLabel}: ok (job ${spec.name}, model ${model.version}, ${outputs.length} result columns -> ${spec.sink.schema}.${spec.sink.table})`);
      if (flags.showSql && spec.source.kind === 'postgres') {
        // What the server receives: each {{name}} read from a setting bound with a parameter, never spliced.
        const { sql, names } = bindTemplate(spec.source.query, `${spec.specLabel}: source.postgres.query`);
        const vars = templateVars(logicalDate);
        print(io.stdout, `  SQL as sent:\n    ${sql.split('\n').join('\n    ')}`);
        print(io.stdout, `  bound: ${names.length ? names.map((n) => `{{${n}}} = ${vars[n]}`).join(', ') : '(no template variables)'}`);
      }
    } catch (err) {
      bad++;
      print(io.stderr, errorMessage(err));
    }
  }
  return bad ? 2 : 0;
}
