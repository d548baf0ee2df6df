import type { BacktestReport, RuleDiff } from '../../policy/backtest.ts';
import { formatPolicyError } from '../../policy/load.ts';
import { formatDurationMs, stallRuleId, type Policy, type Rule } from '../../policy/schema.ts';

/** The human forms of policies, policy errors and backtest reports (`modgate policy …`). */

interface JsonOpt {
  json?: boolean;
}

/** Prints every policy error with its key path (stderr, or a JSON document on stdout) and sets exit 1. */
export function reportInvalid(opts: JsonOpt, file: string, errors: Array<{ path: string; message: string }>): void {
  if (opts.json) process.stdout.write(`${JSON.stringify({ file, valid: false, errors }, null, 2)}\n`);
  else process.stderr.write(`modgate: ${file}: ${errors.length} error(s)\n${errors.map((e) => `  ${formatPolicyError(e)}\n`).join('')}`);
  process.exitCode = 1;
}

function smoothingText(p: Policy, r: Rule): string {
  const s = r.smoothing ?? p.defaults.smoothing ?? { kind: 'window' as const, k: 1, n: 1 };
  return s.kind === 'window' ? `${s.k} of ${s.n} frames` : `sustained ${s.sustainedMs / 1000}s`;
}

function matchText(r: Rule): string {
  const own = conditionText(r.match);
  // Requirements read as "and ≥ 3 viewer_report within 30m".
  const more = r.requires.map((q) => ` and ≥ ${q.minCount} ${conditionText(q)} within ${formatDurationMs(q.within)}`);
  return own + more.join('');
}

function conditionText(m: Rule['match']): string {
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
  if (a.strike)
    parts.push(`strike ${a.strike.category}/${a.strike.severity ?? r.severity} (${formatDurationMs(a.strike.expiresAfter ?? p.defaults.strikeExpiry)})`);
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

export function summaryText(p: Policy): string {
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
