import os from 'node:os';
import { acceptRun } from '../../monitoring/accept-run.js';
import { print, type CommandIO } from '../io.js';
import { notInLedger, openLedger, parseRunId } from '../open-ledger.js';

export interface AcceptFlags {
  by?: string;
  json?: boolean;
  databaseUrl?: string;
}

/** batchinfer accept <run-id>: publish a run the drift guard failed (it becomes succeeded; _latest shows it). */
export async function acceptCommand(rawId: string, flags: AcceptFlags, io: CommandIO): Promise<number> {
  const runId = parseRunId(rawId);
  const by = flags.by ?? `${userName()}@${os.hostname()}`;
  const ledger = await openLedger(flags.databaseUrl, io, 'accept');
  try {
    if (!ledger.exists) throw notInLedger(runId, ledger);
    const outcome = await acceptRun(ledger.client, runId, by);
    print(io.stdout, flags.json ? JSON.stringify(outcome) : outcome.message);
    return 0;
  } finally {
    await ledger.close();
  }
}

/** This process's user (a container may have no passwd entry for it). */
function userName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}
