import path from 'node:path';
import { Command, Option } from 'commander';
import type { Role } from '../admin/tokens.ts';
import { parseDurationSeconds } from '../duration.ts';
import { VERSION } from '../version.ts';
import { registerBankCommands } from './bank-commands.ts';
import { registerExchangeCommands } from './exchange-commands.ts';
import { registerHashCommands } from './hash-commands.ts';
import { registerIncidentCommands } from './incident-commands.ts';
import { actor, configFrom, iso, kit, out, withGlobals, withStore, type GlobalOpts } from './kit.ts';
import { registerModelCommands } from './model-commands.ts';
import { registerPolicyCommands } from './policy-commands.ts';
import { registerReportCommands } from './report-commands.ts';
import { registerStreamerCommands } from './streamer-commands.ts';

/**
 * The `modgate` command line. Declaring the commands loads commander only; each action imports the
 * modules it runs when it runs (`await import`, a separate chunk in dist/), so `modgate --help`, a
 * typo or `modgate hash` never pay for the database, the HTTP server or ONNX (BENCHMARKS.md: CLI start).
 */

const accounts = () => import('../identity/accounts.ts');
const keys = () => import('../identity/keys.ts');
const suspensions = () => import('../enforcement/suspensions.ts');
const tokens = () => import('../admin/tokens.ts');

const port = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`'${v}' is not a port number`);
  return n;
};

export function buildCli(): Command {
  const program = new Command('modgate').description('Live-stream moderation gateway').version(VERSION);
  program.showHelpAfterError(false).configureOutput({ writeErr: (s) => process.stderr.write(s) });

  withGlobals(program.command('serve').description('run the gateway'))
    .addOption(new Option('--rtmp-port <n>', 'RTMP port (default 1935)').argParser(port))
    .addOption(new Option('--http-port <n>', 'HTTP/WebSocket port (default 8080)').argParser(port))
    .action(async (opts: GlobalOpts & { rtmpPort?: number; httpPort?: number }) => {
      const config = await configFrom(opts);
      // Loaded only here: the server pulls in fastify, ws and node-media-server, which other commands never need.
      const [{ startGateway }, { seedFirstRun, firstRunBanner }] = await Promise.all([import('../server.ts'), import('./first-run.ts')]);
      const gw = await startGateway(config);
      const demo = config.demo ? await seedFirstRun(gw.store.db) : null;
      if (demo) await gw.gate.refresh();
      const host = config.rtmp.host === '0.0.0.0' ? 'localhost' : config.rtmp.host;
      const httpUrl = config.http.publicUrl ?? `http://${config.http.host === '0.0.0.0' ? 'localhost' : config.http.host}:${gw.httpPort}`;
      const rtmpUrl = `rtmp://${host}:${gw.rtmpPort}/live`;
      if (opts.json) out(opts, { rtmpUrl, httpUrl, demo }, '');
      else process.stdout.write(firstRunBanner({ rtmpUrl, httpUrl, dataDir: path.resolve(config.dataDir), db: gw.store.url, demo }));
      // The bound on a shutdown is here, around everything stop() waits for: past shutdown.timeoutMs the
      // process exits anyway (code 1), naming the step it was stuck in. A second signal exits at once.
      let signalled = false;
      const shutdown = (signal: string) => {
        if (signalled) {
          gw.log.warn({ signal, step: gw.stopStep() }, 'second signal: exiting without finishing the shutdown');
          process.exit(1);
        }
        signalled = true;
        gw.log.info({ signal, drainMs: config.shutdown.drainMs, timeoutMs: config.shutdown.timeoutMs }, 'shutting down');
        setTimeout(() => {
          gw.log.error({ step: gw.stopStep(), timeoutMs: config.shutdown.timeoutMs }, 'shutdown did not finish in time; exiting');
          process.exit(1);
        }, config.shutdown.timeoutMs).unref();
        gw.stop().then(
          () => {
            gw.log.info('stopped');
            process.exit(0);
          },
          (err) => {
            gw.log.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => shutdown('SIGINT'));
      process.on('SIGTERM', () => shutdown('SIGTERM'));
    });

  const account = program.command('account').description('accounts and identity verification');
  withGlobals(account.command('add <handle>').description('create an account'))
    .option('--verified', 'mark the identity verified now')
    .option('--subject <id>', "the identity provider's id of the person")
    .action(async (handle: string, opts: GlobalOpts & { verified?: boolean; subject?: string }) =>
      withStore(opts, async ({ db }) => {
        const { addAccount } = await accounts();
        const a = await addAccount(db, actor(), { handle, verified: opts.verified, subject: opts.subject ?? null });
        out(opts, { handle: a.handle, identityStatus: a.identity_status }, `account ${a.handle} created (${a.identity_status})`);
      }),
    );
  withGlobals(account.command('verify <handle>').description('mark the identity verified'))
    .option('--subject <id>', "the identity provider's id of the person")
    .option('--reason <text>', 'why')
    .action(async (handle: string, opts: GlobalOpts & { subject?: string; reason?: string }) =>
      withStore(opts, async ({ db }) => {
        const { setIdentity } = await accounts();
        const { after } = await setIdentity(db, actor(), handle, { status: 'verified', subject: opts.subject ?? null, reason: opts.reason ?? null });
        out(opts, { handle, identityStatus: after.identity_status, subject: after.identity_subject }, `account ${handle} verified`);
      }),
    );
  withGlobals(account.command('revoke <handle>').description('revoke identity verification (live streams end)'))
    .option('--reason <text>', 'why', 'revoked by operator')
    .action(async (handle: string, opts: GlobalOpts & { reason: string }) =>
      withStore(opts, async ({ db }) => {
        const { setIdentity } = await accounts();
        const { after } = await setIdentity(db, actor(), handle, { status: 'revoked', reason: opts.reason });
        out(opts, { handle, identityStatus: after.identity_status }, `account ${handle} identity revoked`);
      }),
    );
  withGlobals(account.command('list').description('list accounts')).action(async (opts: GlobalOpts) =>
    withStore(opts, async ({ db }) => {
      const { listAccounts } = await accounts();
      const rows = await listAccounts(db);
      out(
        opts,
        rows.map((a) => ({ handle: a.handle, identityStatus: a.identity_status, subject: a.identity_subject, createdAt: iso(a.created_at) })),
        rows.length ? rows.map((a) => `${a.handle.padEnd(24)} ${a.identity_status.padEnd(11)} ${a.identity_subject ?? ''}`).join('\n') : '(no accounts)',
      );
    }),
  );
  withGlobals(account.command('suspend <handle>').description("suspend live-streaming rights (the person's, across accounts)"))
    .requiredOption('--reason <text>', 'why')
    .option('--duration <d>', 'e.g. 30d, 12h; omit for permanent')
    .option('--category <c>', 'what it was for (e.g. graphic-violence), for the statement of reasons')
    .action(async (handle: string, opts: GlobalOpts & { reason: string; duration?: string; category?: string }) =>
      withStore(opts, async ({ db }) => {
        const seconds = opts.duration ? parseDurationSeconds(opts.duration) : null;
        const { suspendAccount } = await suspensions();
        const s = await suspendAccount(db, actor(), handle, {
          reason: opts.reason,
          durationSeconds: seconds ?? undefined,
          category: opts.category ?? null,
        });
        out(
          opts,
          { handle, suspensionId: s.id, endsAt: iso(s.ends_at) },
          `account ${handle} suspended ${s.ends_at ? `until ${iso(s.ends_at)}` : 'permanently'}`,
        );
      }),
    );
  withGlobals(account.command('unsuspend <handle>').description('lift the active suspension'))
    .requiredOption('--reason <text>', 'why')
    .action(async (handle: string, opts: GlobalOpts & { reason: string }) =>
      withStore(opts, async ({ db }) => {
        const { unsuspendAccount } = await suspensions();
        const lifted = await unsuspendAccount(db, actor(), handle, opts.reason);
        out(opts, { handle, lifted: lifted.map((s) => s.id) }, `account ${handle}: ${lifted.length} suspension(s) lifted`);
      }),
    );
  withGlobals(account.command('show <handle>').description('show one account')).action(async (handle: string, opts: GlobalOpts) =>
    withStore(opts, async ({ db }) => {
      const [{ getAccount }, { listKeys }] = await Promise.all([accounts(), keys()]);
      const a = await getAccount(db, handle);
      const accountKeys = await listKeys(db, handle);
      out(
        opts,
        {
          handle: a.handle,
          identityStatus: a.identity_status,
          subject: a.identity_subject,
          keys: accountKeys.map((k) => ({ id: k.id, prefix: k.key_prefix, revokedAt: iso(k.revoked_at) })),
        },
        `${a.handle}: ${a.identity_status}${a.identity_subject ? ` (subject ${a.identity_subject})` : ''}\nkeys: ${accountKeys.map((k) => `${k.id} ${k.key_prefix}… ${k.revoked_at ? 'revoked' : 'live'}`).join(', ') || 'none'}`,
      );
    }),
  );

  const key = program.command('key').description('stream keys');
  withGlobals(key.command('issue <handle>').description('issue a stream key (printed once)')).action(async (handle: string, opts: GlobalOpts) =>
    withStore(opts, async ({ db }) => {
      const { issueKey } = await keys();
      const { key: k, record } = await issueKey(db, actor(), handle);
      out(opts, { handle, keyId: record.id, streamKey: k }, k);
    }),
  );
  withGlobals(key.command('revoke <handle>').description("revoke the account's keys (or one with --key-id)"))
    .option('--key-id <id>', 'revoke only this key')
    .action(async (handle: string, opts: GlobalOpts & { keyId?: string }) =>
      withStore(opts, async ({ db }) => {
        const { revokeKeys } = await keys();
        const revoked = await revokeKeys(db, actor(), handle, { keyId: opts.keyId });
        out(opts, { handle, revoked: revoked.map((r) => r.id) }, `${revoked.length} key(s) of ${handle} revoked`);
      }),
    );
  withGlobals(key.command('list <handle>').description("list an account's keys (ids and prefixes, never the keys)")).action(
    async (handle: string, opts: GlobalOpts) =>
      withStore(opts, async ({ db }) => {
        const { listKeys } = await keys();
        const rows = await listKeys(db, handle);
        out(
          opts,
          rows.map((k) => ({ id: k.id, prefix: k.key_prefix, createdAt: iso(k.created_at), revokedAt: iso(k.revoked_at), lastUsedAt: iso(k.last_used_at) })),
          rows.map((k) => `${k.id} ${k.key_prefix}… ${k.revoked_at ? 'revoked' : 'live'}`).join('\n') || '(no keys)',
        );
      }),
  );

  const token = program.command('token').description('admin API tokens');
  withGlobals(token.command('issue <name>').description('issue an API bearer token (printed once)'))
    .addOption(
      new Option('--role <role>', 'moderator, operator, or authority (removal orders only)')
        .choices(['moderator', 'operator', 'authority'])
        .makeOptionMandatory(),
    )
    .action(async (name: string, opts: GlobalOpts & { role: Role }) =>
      withStore(opts, async ({ db }) => {
        const { issueToken } = await tokens();
        const { token: t, record } = await issueToken(db, actor().id, name, opts.role);
        out(opts, { id: record.id, name, role: record.role, token: t }, t);
      }),
    );
  withGlobals(token.command('revoke <name>').description('revoke a token by name or id')).action(async (name: string, opts: GlobalOpts) =>
    withStore(opts, async ({ db }) => {
      const { revokeToken } = await tokens();
      const rows = await revokeToken(db, actor().id, name);
      out(opts, { revoked: rows.map((r) => r.id) }, `${rows.length} token(s) revoked`);
    }),
  );
  withGlobals(token.command('list').description('list tokens')).action(async (opts: GlobalOpts) =>
    withStore(opts, async ({ db }) => {
      const { listTokens } = await tokens();
      const rows = await listTokens(db);
      out(
        opts,
        rows.map((t) => ({ id: t.id, name: t.name, role: t.role, createdAt: iso(t.created_at), revokedAt: iso(t.revoked_at) })),
        rows.map((t) => `${t.id} ${t.name} ${t.role} ${t.revoked_at ? 'revoked' : 'live'}`).join('\n') || '(no tokens)',
      );
    }),
  );
  registerBankCommands(program, kit);
  registerExchangeCommands(program, kit);
  registerHashCommands(program);
  registerIncidentCommands(program, kit);
  registerModelCommands(program, kit);
  registerPolicyCommands(program, kit);
  registerReportCommands(program, kit);
  registerStreamerCommands(program, kit);
  return program;
}

/** One line, non-zero exit: what a script or a person needs when a command fails. */
export function describeError(err: unknown): string {
  if (err && typeof err === 'object' && 'issues' in err && Array.isArray((err as { issues: unknown }).issues)) {
    const issue = (err as { issues: Array<{ path: PropertyKey[]; message: string }> }).issues[0];
    return issue ? `${issue.path.join('.') || 'input'}: ${issue.message}` : 'invalid input';
  }
  const e = err as { code?: string; message?: string; name?: string };
  // Errors of the commands that load their modules lazily (model eval) carry a stable code to print first.
  if (e?.name === 'EvalHeadError' && typeof e.code === 'string') return `${e.code}: ${e.message}`;
  if (e.code === 'EADDRINUSE') return `${e.message} (is another gateway running? choose another port with --rtmp-port / --http-port)`;
  return e?.message ?? String(err);
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    process.stderr.write(`modgate: ${describeError(err).split('\n').join('\n  ')}\n`);
    process.exitCode = 1;
  }
}
