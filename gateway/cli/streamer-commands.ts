import type { Command } from 'commander';
import { Option } from 'commander';
import type { AppealOutcome, AppealStatus } from '../enforcement/appeals.ts';
import { iso, type CliKit } from './kit.ts';

const appeals = () => import('../enforcement/appeals.ts');
const accountTokens = () => import('../identity/account-tokens.ts');

/**
 * Streamer tokens and appeals:
 *   modgate account token HANDLE            issue the account's streamer token (at_…, printed once; revokes the old one)
 *   modgate account token HANDLE --revoke   revoke it without issuing a new one
 *   modgate appeal list [--status open]     the appeal queue
 *   modgate appeal show ID
 *   modgate appeal decide ID --outcome uphold|overturn --reason TEXT
 * A running gateway picks an overturn up through its gate-change feed (no restart).
 */
export function registerStreamerCommands(program: Command, kit: CliKit): void {
  const account = program.commands.find((c) => c.name() === 'account') ?? program.command('account').description('accounts and identity verification');
  kit
    .withGlobals(
      account
        .command('token <handle>')
        .description("issue the account's streamer token for GET /api/v1/me and appeals (printed once; revokes the previous one)"),
    )
    .option('--revoke', 'revoke the live token without issuing a new one')
    .action(async (handle: string, opts: { revoke?: boolean }) =>
      kit.withStore(opts, async ({ db }) => {
        const { issueAccountToken, revokeAccountTokens } = await accountTokens();
        if (opts.revoke) {
          const revoked = await revokeAccountTokens(db, { id: kit.actor() }, handle);
          kit.out(opts, { handle, revoked }, `${revoked.length} streamer token(s) of ${handle} revoked`);
          return;
        }
        const { token, record, revoked } = await issueAccountToken(db, { id: kit.actor() }, handle);
        kit.out(opts, { handle, tokenId: record.id, accountToken: token, revoked }, token);
      }),
    );

  const appeal = program.command('appeal').description('streamer appeals against enforcement decisions');
  kit
    .withGlobals(appeal.command('list').description('appeals: open ones oldest first, decided ones newest first'))
    .addOption(new Option('--status <s>', 'open | upheld | overturned').choices(['open', 'upheld', 'overturned']).default('open'))
    .option('--limit <n>', 'at most this many', (v) => Number(v), 100)
    .action(async (opts: { status: AppealStatus; limit: number }) =>
      kit.withStore(opts, async ({ db }) => {
        const { listAppeals } = await appeals();
        const rows = await listAppeals(db, { status: opts.status, limit: opts.limit });
        const handles = new Map(
          rows.length
            ? (
                await db
                  .selectFrom('accounts')
                  .select(['id', 'handle'])
                  .where(
                    'id',
                    'in',
                    rows.map((r) => r.account_id),
                  )
                  .execute()
              ).map((a) => [a.id, a.handle])
            : [],
        );
        kit.out(
          opts,
          rows.map((r) => ({
            id: r.id,
            status: r.status,
            account: handles.get(r.account_id) ?? null,
            target: { kind: r.target_kind, id: r.target_id },
            decisionId: r.target_kind === 'decision' ? r.target_id : null,
            createdAt: iso(r.created_at),
            statement: r.statement,
            outcomeReason: r.outcome_reason,
          })),
          rows
            .map(
              (r) =>
                `${r.id} ${r.status.padEnd(10)} ${(handles.get(r.account_id) ?? r.account_id).padEnd(24)} ${r.target_kind.padEnd(10)} ${r.target_id} ${iso(r.created_at)}`,
            )
            .join('\n') || `(no ${opts.status} appeals)`,
        );
      }),
    );
  kit
    .withGlobals(appeal.command('show <id>').description('one appeal with the decision, suspension or ban it contests'))
    .action(async (id: string, opts: object) =>
      kit.withStore(opts, async ({ db }) => {
        const { getAppeal } = await appeals();
        const a = await getAppeal(db, id);
        const d = a.target_kind === 'decision' ? await db.selectFrom('decisions').selectAll().where('id', '=', a.target_id).executeTakeFirst() : undefined;
        const r =
          a.target_kind === 'suspension'
            ? await db.selectFrom('suspensions').selectAll().where('id', '=', a.target_id).executeTakeFirst()
            : a.target_kind === 'ban'
              ? await db.selectFrom('person_bans').selectAll().where('id', '=', a.target_id).executeTakeFirst()
              : undefined;
        kit.out(
          opts,
          { appeal: a, decision: d ?? null, restriction: r ?? null },
          [
            `${a.id} ${a.status} (filed ${iso(a.created_at)})`,
            a.target_kind === 'decision'
              ? `decision ${a.target_id}: ${d ? `${d.rule_id}: ${d.reason} (review ${d.review_status})` : 'missing'}`
              : `${a.target_kind} ${a.target_id}: ${r ? `${r.reason} (by ${r.created_by}, ${r.lifted_at === null ? `until ${r.ends_at === null ? 'lifted' : iso(r.ends_at)}` : `lifted ${iso(r.lifted_at)}`})` : 'missing'}`,
            `statement: ${a.statement}`,
            ...(a.status !== 'open' ? [`outcome: ${a.status} by ${a.decided_by} at ${iso(a.decided_at)}: ${a.outcome_reason}`] : []),
          ].join('\n'),
        );
      }),
    );
  kit
    .withGlobals(
      appeal
        .command('decide <id>')
        .description(
          "uphold or overturn an open appeal (overturn voids the decision's strike and lifts its suspension, or lifts the appealed suspension or ban)",
        ),
    )
    .addOption(new Option('--outcome <o>', 'uphold | overturn').choices(['uphold', 'overturn']).makeOptionMandatory())
    .requiredOption('--reason <text>', 'why (the streamer reads it)')
    .action(async (id: string, opts: { outcome: AppealOutcome; reason: string }) =>
      kit.withStore(opts, async ({ db }) => {
        const { decideAppeal } = await appeals();
        const res = await decideAppeal(db, kit.actor(), id, { outcome: opts.outcome, reason: opts.reason });
        kit.out(
          opts,
          {
            id,
            status: res.appeal.status,
            decisionId: res.decision?.id ?? null,
            strikesVoided: res.strikesVoided,
            suspensionsLifted: res.suspensionsLifted,
            bansLifted: res.bansLifted,
            decisionConfirmed: res.decisionConfirmed,
          },
          res.appeal.status === 'overturned'
            ? `appeal ${id} overturned: ${res.strikesVoided} strike(s) voided, ${res.suspensionsLifted} suspension(s) lifted${res.bansLifted ? `, ${res.bansLifted} ban(s) lifted` : ''}`
            : `appeal ${id} upheld${res.decisionConfirmed ? ' (decision review confirmed)' : ''}`,
        );
      }),
    );
}
