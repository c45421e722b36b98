import { describe, expect, it } from 'vitest';
import { asServerUser, resolveServerUser } from '../../src/db/embedded.js';

/** A fake system where the `postgres` user appears once useradd ran; records every command. */
function fakeSystem(exists: boolean) {
  const calls: string[] = [];
  const logs: string[] = [];
  let created = exists;
  const run = (cmd: string, args: string[]) => {
    calls.push([cmd, ...args].join(' '));
    if (cmd === 'useradd') created = true;
    if (cmd === 'id') return created ? { status: 0, stdout: args[0] === '-u' ? '105\n' : '110\n' } : { status: 1, stdout: '' };
    return { status: 0, stdout: '' };
  };
  return { calls, logs, deps: { isRoot: true, run, log: (l: string) => logs.push(l) } };
}

describe('the embedded server user', () => {
  it('as root, creates a missing postgres user and says so in one line', () => {
    const sys = fakeSystem(false);
    expect(resolveServerUser(sys.deps)).toEqual({ uid: 105, gid: 110 });
    expect(sys.logs).toEqual(['creating system user "postgres" to run the embedded server (PostgreSQL refuses to run as root)']);
    expect(sys.calls).toEqual(['id -u postgres', 'groupadd -f postgres', 'useradd -r -g postgres -s /bin/false postgres', 'id -u postgres', 'id -g postgres']);
  });

  it('as root, uses an existing postgres user quietly', () => {
    const sys = fakeSystem(true);
    expect(resolveServerUser(sys.deps)).toEqual({ uid: 105, gid: 110 });
    expect(sys.logs).toEqual([]);
    expect(sys.calls).toEqual(['id -u postgres', 'id -g postgres']);
  });

  it('fails with a clear message when the user cannot be created', () => {
    const sys = fakeSystem(false);
    const deps = { ...sys.deps, run: (cmd: string, args: string[]) => (cmd === 'id' ? { status: 1, stdout: '' } : sys.deps.run(cmd, args)) };
    expect(() => resolveServerUser(deps)).toThrow('could not create system user "postgres" to run the embedded server (PostgreSQL refuses to run as root); create it, or set DATABASE_URL to use your own server');
  });

  it('not as root: nothing to look up', () => {
    const sys = fakeSystem(false);
    expect(resolveServerUser({ ...sys.deps, isRoot: false })).toEqual({});
    expect(sys.calls).toEqual([]);
  });

  it('is looked up once per process (it is asked for on every pg_ctl call and path check)', () => {
    const first = asServerUser();
    expect(asServerUser()).toBe(first);
  });
});
