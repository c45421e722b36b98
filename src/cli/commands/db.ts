import { UsageError } from '../../errors.js';
import { cliName, print, type CommandIO } from '../io.js';
import { configuredDatabaseUrl, embeddedServer } from '../settings.js';

/** batchinfer db start|stop|status|url: the embedded server; `url` prints the database in use (DATABASE_URL wins). */
/** Exit 3 (like pg_ctl status) when the embedded server is not running: `db status`, and `db url` without --start. */
export async function dbCommand(action: string, flags: { databaseUrl?: string; start?: boolean }, io: CommandIO): Promise<number> {
  const server = embeddedServer(io);
  switch (action) {
    case 'start':
      print(io.stdout, await server.start());
      return 0;
    case 'stop':
      print(io.stdout, (await server.stop()) ? 'embedded PostgreSQL stopped' : 'embedded PostgreSQL was not running');
      return 0;
    case 'status': {
      const s = await server.status();
      if (configuredDatabaseUrl(flags.databaseUrl, io)) print(io.stdout, `using DATABASE_URL (the embedded server is not used)`);
      if (!s) print(io.stdout, 'embedded PostgreSQL: not initialised (any command that needs it starts it)');
      else if (s.running) print(io.stdout, `embedded PostgreSQL: running on 127.0.0.1:${s.port}, data ${s.dataDir}\n${s.url}`);
      // No URL for a stopped server: nothing answers there (it was last on s.port, and may get another port on start).
      else print(io.stdout, `embedded PostgreSQL: stopped (data ${s.dataDir}); \`${cliName(io.env)} db start\` starts it, and so does any command that needs it`);
      return s?.running ? 0 : 3;
    }
    case 'url': {
      const url = configuredDatabaseUrl(flags.databaseUrl, io);
      if (url) return print(io.stdout, url), 0;
      if (flags.start) return print(io.stdout, await embeddedServer(io, false).start()), 0;
      // Only prints: starting a server is not a side effect of asking where it is.
      const s = await server.status();
      if (!s?.running) {
        print(io.stderr, `batchinfer: the embedded PostgreSQL is ${s ? 'stopped' : 'not initialised'} (${server.home}); start it with \`${cliName(io.env)} db start\` (or \`db url --start\`), or set DATABASE_URL`);
        return 3;
      }
      print(io.stdout, s.url);
      return 0;
    }
    default:
      throw new UsageError(`db ${action}: unknown action; use one of start, stop, status, url`);
  }
}
