import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { PolicyFormat } from '../../policy/load.ts';
import type { PolicyStore } from '../enforcement/policy-store.ts';
import { DEFAULT_BACKTEST_LIMITS, parseTime } from '../policy-ops/backtest-limits.ts';
import type { CliKit } from './kit.ts';

const formatting = () => import('./policy-format.ts');

/**
 * `modgate policy …`: check a policy file, show / submit / list / roll back the versions stored in the
 * database (a running gateway picks a change up at its next sync), and backtest a candidate against the
 * stored signals. Every command takes --json.
 */

interface JsonOpt {
  json?: boolean;
}

function formatOf(file: string): PolicyFormat {
  return file.toLowerCase().endsWith('.json') ? 'json' : 'yaml';
}

async function policyStore(kit: CliKit, opts: object, db: ConstructorParameters<typeof PolicyStore>[0]): Promise<PolicyStore> {
  const [{ DEFAULT_POLICY_FILE, PolicyStore }, config] = await Promise.all([import('../enforcement/policy-store.ts'), kit.config(opts)]);
  const file = config.policy.file;
  return new PolicyStore(db, file ? path.resolve(file) : DEFAULT_POLICY_FILE);
}

function positiveInt(what: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${what}: '${v}' is not a positive whole number`);
    return n;
  };
}

function nonNegativeInt(what: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${what}: '${v}' is not a whole number`);
    return n;
  };
}

function timeOption(what: string) {
  return (v: string) => {
    const ms = parseTime(v);
    if (ms === null) throw new Error(`${what}: '${v}' is not an ISO 8601 time or epoch milliseconds`);
    return ms;
  };
}

export function registerPolicyCommands(program: Command, kit: CliKit): void {
  // `policy show --version N`: without positional options the program's own -V/--version would take the
  // flag wherever it appears. The program has no other options, so only `modgate --version` is affected
  // (it must come before any subcommand, which is where it goes anyway).
  program.enablePositionalOptions();
  const policy = program.command('policy').description('moderation policy: check, show, submit, versions, rollback, backtest');

  kit
    .withGlobals(policy.command('check <file>').description('validate a policy file: every error with its key path (exit 1), or a summary of its rules'))
    .action(async (file: string, opts: JsonOpt) => {
      const [{ loadPolicyFile }, { reportInvalid, policySummary, summaryText }] = await Promise.all([import('../enforcement/policy-file.ts'), formatting()]);
      const r = await loadPolicyFile(file);
      if (!r.ok) return reportInvalid(opts, file, r.errors);
      kit.out(opts, { file, valid: true, ...policySummary(r.policy) }, `${file}: valid\n${summaryText(r.policy)}`);
    });

  kit
    .withGlobals(policy.command('show').description('print the active policy (or a stored version)'))
    .option('--version <n>', 'a stored version id', positiveInt('--version'))
    .action(async (opts: JsonOpt & { version?: number }) =>
      kit.withStore(opts, async ({ db }) => {
        const store = await policyStore(kit, opts, db);
        await store.refresh();
        const active = store.current();
        const v = opts.version === undefined ? { id: active.versionId, text: active.text, format: active.format } : await store.version(opts.version);
        const { loadPolicy } = await import('../../policy/load.ts');
        const loaded = loadPolicy(v.text, v.format);
        kit.out(
          opts,
          { versionId: v.id, active: v.id === active.versionId, format: v.format, text: v.text, policy: loaded.ok ? loaded.policy : null },
          v.text.endsWith('\n') ? v.text.slice(0, -1) : v.text,
        );
      }),
    );

  kit
    .withGlobals(policy.command('submit <file>').description('store a new policy version and activate it (running gateways pick it up at their next sync)'))
    .requiredOption('--comment <text>', 'why (kept with the version)')
    .option('--no-activate', 'store the version without activating it (e.g. to backtest or roll forward later)')
    .action(async (file: string, opts: JsonOpt & { comment: string; activate: boolean }) => {
      const [{ DomainError }, { loadPolicy }, { reportInvalid }] = await Promise.all([import('../errors.ts'), import('../../policy/load.ts'), formatting()]);
      const text = await readFile(file, 'utf8').catch((err: Error) => {
        throw new DomainError('invalid', `cannot read ${file}: ${err.message}`);
      });
      const format = formatOf(file);
      const checked = loadPolicy(text, format);
      if (!checked.ok) return reportInvalid(opts, file, checked.errors);
      await kit.withStore(opts, async ({ db }) => {
        const store = await policyStore(kit, opts, db);
        await store.refresh();
        const res = await store.submit(text, format, kit.actor(), opts.comment, opts.activate);
        kit.out(
          opts,
          { versionId: res.versionId, name: res.policy.name, version: res.policy.version, active: opts.activate, author: kit.actor() },
          `policy version ${res.versionId} stored (${res.policy.name} @ ${res.policy.version})${opts.activate ? ' and activated' : '; not active'}`,
        );
      });
    });

  kit.withGlobals(policy.command('versions').description('stored policy versions, newest first')).action(async (opts: JsonOpt) =>
    kit.withStore(opts, async ({ db }) => {
      const store = await policyStore(kit, opts, db);
      await store.refresh();
      const versions = await store.versions();
      const active = store.current().versionId;
      kit.out(
        opts,
        { activeVersionId: active, versions },
        versions.length === 0
          ? '(no stored versions: the built-in policy is active)'
          : versions.map((v) => `${v.active ? '*' : ' '} ${String(v.id).padStart(4)}  ${v.createdAt}  ${v.author.padEnd(20)} ${v.comment ?? ''}`).join('\n'),
      );
    }),
  );

  kit
    .withGlobals(policy.command('rollback <versionId>').description('activate an earlier stored version'))
    .requiredOption('--reason <text>', 'why')
    .action(async (versionId: string, opts: JsonOpt & { reason: string }) => {
      const id = positiveInt('version')(versionId);
      await kit.withStore(opts, async ({ db }) => {
        const store = await policyStore(kit, opts, db);
        const a = await store.rollback(id, kit.actor(), opts.reason);
        kit.out(
          opts,
          { versionId: a.versionId, name: a.policy.name, version: a.policy.version },
          `policy version ${a.versionId} active (${a.policy.name} @ ${a.policy.version})`,
        );
      });
    });

  kit
    .withGlobals(
      policy
        .command('backtest <file>')
        .description('replay the stored signals of a time range against a candidate policy and show which decisions would differ'),
    )
    .requiredOption('--since <time>', 'start: ISO 8601 time or epoch ms', timeOption('--since'))
    .requiredOption('--until <time>', 'end: ISO 8601 time or epoch ms', timeOption('--until'))
    .option('--baseline-version <n>', 'compare with this stored version (default: the active policy)', positiveInt('--baseline-version'))
    .option('--examples <n>', 'examples per rule and kind of change', nonNegativeInt('--examples'), 5)
    .option('--max-streams <n>', `most streams (default ${DEFAULT_BACKTEST_LIMITS.maxStreams})`, positiveInt('--max-streams'))
    .option('--max-signals <n>', `most stored signals (default ${DEFAULT_BACKTEST_LIMITS.maxSignals})`, positiveInt('--max-signals'))
    .option('--max-days <n>', `longest range in days (default ${DEFAULT_BACKTEST_LIMITS.maxRangeMs / 86_400_000})`, positiveInt('--max-days'))
    .action(
      async (
        file: string,
        opts: JsonOpt & {
          since: number;
          until: number;
          baselineVersion?: number;
          examples: number;
          maxStreams?: number;
          maxSignals?: number;
          maxDays?: number;
        },
      ) => {
        const [{ loadPolicyFile }, { reportInvalid, backtestText }, backtest, { DomainError }] = await Promise.all([
          import('../enforcement/policy-file.ts'),
          formatting(),
          import('../policy-ops/backtest.ts'),
          import('../errors.ts'),
        ]);
        const { backtestResponse, BacktestRequestError, baselinePolicy, runStoredBacktest } = backtest;
        const loaded = await loadPolicyFile(file);
        if (!loaded.ok) return reportInvalid(opts, file, loaded.errors);
        await kit.withStore(opts, async ({ db }) => {
          const store = await policyStore(kit, opts, db);
          await store.refresh();
          const limits = {
            maxRangeMs: opts.maxDays === undefined ? DEFAULT_BACKTEST_LIMITS.maxRangeMs : opts.maxDays * 86_400_000,
            maxStreams: opts.maxStreams ?? DEFAULT_BACKTEST_LIMITS.maxStreams,
            maxSignals: opts.maxSignals ?? DEFAULT_BACKTEST_LIMITS.maxSignals,
          };
          try {
            const base = await baselinePolicy(store, opts.baselineVersion);
            const report = await runStoredBacktest(db, {
              baseline: base.policy,
              candidate: loaded.policy,
              since: opts.since,
              until: opts.until,
              maxExamples: opts.examples,
              limits,
              storedSignalsFloor: (await kit.config(opts)).policy.storeSignalsFloor,
            });
            kit.out(opts, backtestResponse(report, base.versionId), backtestText(report, base.versionId));
          } catch (err) {
            if (err instanceof BacktestRequestError) throw new DomainError('invalid', err.message);
            throw err;
          }
        });
      },
    );
}
