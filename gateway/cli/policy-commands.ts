import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { BacktestReport, RuleDiff } from '../../policy/backtest.ts';
import { formatPolicyError, loadPolicy, type PolicyFormat } from '../../policy/load.ts';
import { loadPolicyFile } from '../enforcement/policy-file.ts';
import { formatDurationMs, stallRuleId, type Policy, type Rule } from '../../policy/schema.ts';
import {
  backtestResponse,
  BacktestRequestError,
  baselinePolicy,
  DEFAULT_BACKTEST_LIMITS,
  parseTime,
  runStoredBacktest,
} from '../policy-ops/backtest.ts';
import type { Config } from '../config.ts';
import { DomainError } from '../errors.ts';
import { DEFAULT_POLICY_FILE, PolicyStore } from '../enforcement/policy-store.ts';
import type { CliKit } from './bank-commands.ts';

/**
 * `modgate policy …`: check a policy file, show / submit / list / roll back the versions stored in the
 * database (a running gateway picks a change up at its next sync), and backtest a candidate against the
 * stored signals. Every command takes --json.
 */

export interface PolicyCliKit extends CliKit {
  /** The effective configuration (for policy.file and policy.storeSignalsFloor). */
  config(opts: object): Config;
}

interface JsonOpt {
  json?: boolean;
}

function formatOf(file: string): PolicyFormat {
  return file.toLowerCase().endsWith('.json') ? 'json' : 'yaml';
}

function policyStore(kit: PolicyCliKit, opts: object, db: ConstructorParameters<typeof PolicyStore>[0]): PolicyStore {
  const file = kit.config(opts).policy.file;
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

/** Prints every policy error with its key path (stderr, or a JSON document on stdout) and sets exit 1. */
function reportInvalid(opts: JsonOpt, file: string, errors: Array<{ path: string; message: string }>): void {
  if (opts.json) process.stdout.write(`${JSON.stringify({ file, valid: false, errors }, null, 2)}\n`);
  else process.stderr.write(`modgate: ${file}: ${errors.length} error(s)\n${errors.map((e) => `  ${formatPolicyError(e)}\n`).join('')}`);
  process.exitCode = 1;
}

function smoothingText(p: Policy, r: Rule): string {
  const s = r.smoothing ?? p.defaults.smoothing ?? { kind: 'window' as const, k: 1, n: 1 };
  return s.kind === 'window' ? `${s.k} of ${s.n} frames` : `sustained ${s.sustainedMs / 1000}s`;
}

function matchText(r: Rule): string {
  const m = r.match;
  const parts = [m.source];
  if (m.label) parts.push(`label ${m.label.join('|')}`);
  if (m.category) parts.push(`category ${m.category.join('|')}`);
  if (m.bank) parts.push(`bank ${m.bank.join('|')}`);
  if (m.minScore !== undefined) parts.push(`score ≥ ${m.minScore}`);
  if (m.maxDistance !== undefined) parts.push(`distance ≤ ${m.maxDistance}`);
  return parts.join(', ');
}

function actionsText(p: Policy, r: Rule): string {
  const a = r.actions;
  const parts: string[] = [];
  if (a.cut) parts.push('cut');
  if (a.suspend) parts.push(`suspend ${a.suspend.durationMs === null ? 'permanent' : formatDurationMs(a.suspend.durationMs)}`);
  if (a.strike) parts.push(`strike ${a.strike.category}/${a.strike.severity ?? r.severity} (${formatDurationMs(a.strike.expiresAfter ?? p.defaults.strikeExpiry)})`);
  if (a.review) parts.push(`review ${a.review.priority ?? p.defaults.reviewPriority}`);
  if (a.warn) parts.push('warn');
  return parts.join(', ');
}

/** A summary of a valid policy, for `check` and `show`. */
export function policySummary(p: Policy) {
  return {
    name: p.name,
    version: p.version,
    rules: p.rules.map((r) => ({
      id: r.id,
      severity: r.severity,
      shadow: r.shadow,
      match: matchText(r),
      smoothing: smoothingText(p, r),
      actions: actionsText(p, r),
      escalationSteps: r.escalation.length,
    })),
    stall: p.stall.map((s) => ({ id: stallRuleId(s), source: s.source, afterSeconds: s.afterSeconds, mode: s.mode, shadow: s.shadow })),
  };
}

function summaryText(p: Policy): string {
  const s = policySummary(p);
  const lines = [`${s.name} @ ${s.version}: ${s.rules.length} rule(s), ${s.stall.length} stall entr${s.stall.length === 1 ? 'y' : 'ies'}`];
  for (const r of s.rules) {
    lines.push(
      `  ${r.id} [${r.severity}]${r.shadow ? ' (shadow)' : ''}: ${r.match}; ${r.smoothing} → ${r.actions}` +
        (r.escalationSteps > 0 ? `; ${r.escalationSteps} escalation step(s)` : ''),
    );
  }
  for (const st of s.stall) lines.push(`  ${st.id}: ${st.source} silent ${st.afterSeconds}s → ${st.mode}${st.shadow ? ' (shadow)' : ''}`);
  return lines.join('\n');
}

function es(x: { enforced: number; shadow: number }): string {
  return x.shadow === 0 ? String(x.enforced) : `${x.enforced}+${x.shadow}s`;
}

/** The human form of a backtest report. */
export function backtestText(r: BacktestReport, baselineVersionId: number): string {
  const t = r.totals;
  const lines = [
    `baseline  ${r.baseline.name} @ ${r.baseline.version}${baselineVersionId === 0 ? ' (built-in)' : ` (version ${baselineVersionId})`}`,
    `candidate ${r.candidate.name} @ ${r.candidate.version}`,
    `${r.streams} stream(s), ${r.signals} stored signal(s), ${new Date(r.range.since ?? 0).toISOString()} – ${new Date(r.range.until ?? 0).toISOString()}`,
    `decisions: baseline ${t.baseline.decisions} (${t.baseline.cuts} cuts), candidate ${t.candidate.decisions} (${t.candidate.cuts} cuts)` +
      (t.recorded ? `, recorded ${t.recorded.decisions} (${t.recorded.cuts} cuts)` : ''),
    `differences: +${t.added} added, -${t.removed} removed, ${t.changed} changed, ${t.retimed} retimed, ${t.unchanged} unchanged; ` +
      `${t.streamsAffected} stream(s) affected, ${t.streamsNewlyCut} newly cut, ${t.streamsNoLongerCut} no longer cut`,
    '',
    `${'rule'.padEnd(28)} ${'base'.padStart(7)} ${'cand'.padStart(7)} ${'added'.padStart(7)} ${'removed'.padStart(7)} ${'changed'.padStart(7)}`,
  ];
  const row = (d: RuleDiff) =>
    `${d.ruleId.padEnd(28)} ${es(d.baseline).padStart(7)} ${es(d.candidate).padStart(7)} ${es(d.added).padStart(7)} ${es(d.removed).padStart(7)} ${String(d.changed).padStart(7)}` +
    (d.inCandidate ? '' : '  (not in candidate)');
  for (const d of r.rules) lines.push(row(d));
  const examples = r.rules.flatMap((d) => d.examples.filter((e) => e.change !== 'retimed'));
  if (examples.length > 0) {
    lines.push('', 'examples:');
    for (const e of examples) lines.push(`  ${e.change.padEnd(8)} ${e.ruleId} stream ${e.streamId} at ${e.at}: ${e.differences.join('; ')}`);
  }
  if (r.recorded) {
    const c = r.recorded;
    lines.push(
      '',
      `recorded: ${c.decisions} decision(s); baseline reproduces ${c.reproducedByBaseline} (misses ${c.missedByBaseline}, adds ${c.extraInBaseline}); ` +
        `candidate keeps ${c.keptByCandidate}, drops ${c.droppedByCandidate}, adds ${c.newInCandidate}`,
    );
  }
  if (r.notes.length > 0) lines.push('', 'notes:', ...r.notes.map((n) => `  - ${n}`));
  return lines.join('\n');
}

function timeOption(what: string) {
  return (v: string) => {
    const ms = parseTime(v);
    if (ms === null) throw new Error(`${what}: '${v}' is not an ISO 8601 time or epoch milliseconds`);
    return ms;
  };
}

export function registerPolicyCommands(program: Command, kit: PolicyCliKit): void {
  // `policy show --version N`: without positional options the program's own -V/--version would take the
  // flag wherever it appears. The program has no other options, so only `modgate --version` is affected
  // (it must come before any subcommand, which is where it goes anyway).
  program.enablePositionalOptions();
  const policy = program.command('policy').description('moderation policy: check, show, submit, versions, rollback, backtest');

  kit
    .withGlobals(policy.command('check <file>').description('validate a policy file: every error with its key path (exit 1), or a summary of its rules'))
    .action(async (file: string, opts: JsonOpt) => {
      const r = await loadPolicyFile(file);
      if (!r.ok) return reportInvalid(opts, file, r.errors);
      kit.out(opts, { file, valid: true, ...policySummary(r.policy) }, `${file}: valid\n${summaryText(r.policy)}`);
    });

  kit
    .withGlobals(policy.command('show').description('print the active policy (or a stored version)'))
    .option('--version <n>', 'a stored version id', positiveInt('--version'))
    .action(async (opts: JsonOpt & { version?: number }) =>
      kit.withStore(opts, async ({ db }) => {
        const store = policyStore(kit, opts, db);
        await store.refresh();
        const active = store.current();
        const v = opts.version === undefined ? { id: active.versionId, text: active.text, format: active.format } : await store.version(opts.version);
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
      const text = await readFile(file, 'utf8').catch((err: Error) => {
        throw new DomainError('invalid', `cannot read ${file}: ${err.message}`);
      });
      const format = formatOf(file);
      const checked = loadPolicy(text, format);
      if (!checked.ok) return reportInvalid(opts, file, checked.errors);
      await kit.withStore(opts, async ({ db }) => {
        const store = policyStore(kit, opts, db);
        await store.refresh();
        const res = await store.submit(text, format, kit.actor(), opts.comment, opts.activate);
        kit.out(
          opts,
          { versionId: res.versionId, name: res.policy.name, version: res.policy.version, active: opts.activate, author: kit.actor() },
          `policy version ${res.versionId} stored (${res.policy.name} @ ${res.policy.version})${opts.activate ? ' and activated' : '; not active'}`,
        );
      });
    });

  kit
    .withGlobals(policy.command('versions').description('stored policy versions, newest first'))
    .action(async (opts: JsonOpt) =>
      kit.withStore(opts, async ({ db }) => {
        const store = policyStore(kit, opts, db);
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
        const store = policyStore(kit, opts, db);
        const a = await store.rollback(id, kit.actor(), opts.reason);
        kit.out(opts, { versionId: a.versionId, name: a.policy.name, version: a.policy.version }, `policy version ${a.versionId} active (${a.policy.name} @ ${a.policy.version})`);
      });
    });

  kit
    .withGlobals(policy.command('backtest <file>').description('replay the stored signals of a time range against a candidate policy and show which decisions would differ'))
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
        opts: JsonOpt & { since: number; until: number; baselineVersion?: number; examples: number; maxStreams?: number; maxSignals?: number; maxDays?: number },
      ) => {
        const loaded = await loadPolicyFile(file);
        if (!loaded.ok) return reportInvalid(opts, file, loaded.errors);
        await kit.withStore(opts, async ({ db }) => {
          const store = policyStore(kit, opts, db);
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
              storedSignalsFloor: kit.config(opts).policy.storeSignalsFloor,
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
