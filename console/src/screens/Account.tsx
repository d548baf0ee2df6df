import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Account, Strike } from '../api/types.ts';
import { useApp } from '../app/context.ts';
import { Link } from '../app/router.tsx';
import { AuditTable } from '../ui/audit-table.tsx';
import { Badge, Button, Card, Empty, ErrorBox, KeyValues, Loading, Mono, PageHead, severityTone, Time } from '../ui/components.tsx';
import { ReasonDialog, SecretDialog } from '../ui/dialog.tsx';
import { SuspendDialog } from '../ui/suspend-dialog.tsx';
import { actorText, plural } from '../ui/format.ts';
import { useResource } from '../ui/hooks.ts';
import { toast } from '../ui/toast.tsx';
import { ListTable } from '../ui/list-table.tsx';

type Action =
  | { kind: 'suspend' }
  | { kind: 'unsuspend' }
  | { kind: 'verify' }
  | { kind: 'revoke-identity' }
  | { kind: 'revoke-key'; keyId: string | null }
  | { kind: 'void'; strike: Strike }
  | { kind: 'secret'; title: string; secret: string; note: string };

export function AccountPage(props: { handle: string }): JSX.Element {
  const { api, isOperator } = useApp();
  const account = useResource(() => api.account(props.handle), [props.handle]);
  const strikes = useResource(() => api.strikes(props.handle), [props.handle]);
  const [action, setAction] = useState<Action | null>(null);
  const [subject, setSubject] = useState('');
  const reload = async () => {
    await Promise.all([account.reload(), strikes.reload()]);
  };

  if (account.error)
    return (
      <>
        <PageHead title={`@${props.handle}`} />
        <ErrorBox error={account.error} retry={account.reload} />
      </>
    );
  if (!account.data) return <Loading what="the account" />;
  const a = account.data;
  const activeKeys = a.keys.filter((k) => k.revokedAt === null);
  const canGoLive = a.identity.status === 'verified' && !a.activeSuspension && activeKeys.length > 0;
  const close = () => setAction(null);

  return (
    <>
      <PageHead
        title={`@${a.handle}`}
        sub={
          <span class="chips">
            <IdentityBadge status={a.identity.status} />
            {a.live.length > 0 ? <Badge tone="good">live now</Badge> : null}
            {canGoLive ? <Badge tone="good">may go live</Badge> : <Badge tone="bad">may not go live</Badge>}
          </span>
        }
        actions={<Button onClick={() => void reload()}>Refresh</Button>}
      />
      <div class="grid-2">
        <Card
          title="Live-streaming rights"
          actions={
            a.activeSuspension ? (
              <Button variant="primary" small onClick={() => setAction({ kind: 'unsuspend' })}>
                Lift suspension
              </Button>
            ) : (
              <Button variant="danger" small onClick={() => setAction({ kind: 'suspend' })}>
                Suspend…
              </Button>
            )
          }
        >
          {a.activeSuspension ? (
            <div data-testid="active-suspension">
              <div class="alert alert-bad">
                Suspended{' '}
                {a.activeSuspension.permanent ? (
                  <strong>permanently</strong>
                ) : (
                  <>
                    until{' '}
                    <strong>
                      <Time at={a.activeSuspension.endsAt} />
                    </strong>
                  </>
                )}{' '}
                by {actorText(a.activeSuspension.createdBy)}.
              </div>
              <p class="reason">{a.activeSuspension.reason}</p>
              <KeyValues
                items={[
                  ['Since', <Time at={a.activeSuspension.startsAt} />],
                  [
                    'Decision',
                    a.activeSuspension.decisionId ? (
                      <Link href={`/reviews/${encodeURIComponent(a.activeSuspension.decisionId)}`}>
                        <Mono>{a.activeSuspension.decisionId}</Mono>
                      </Link>
                    ) : (
                      '—'
                    ),
                  ],
                ]}
              />
            </div>
          ) : (
            <p>
              {canGoLive
                ? 'No active suspension. The account may go live.'
                : a.identity.status !== 'verified'
                  ? 'Not suspended, but the identity is not verified: the account may not go live.'
                  : 'Not suspended, but the account has no active stream key.'}
            </p>
          )}
          {a.live.map((s) => (
            <p key={s.id}>
              Live on{' '}
              <Link href={`/streams/${encodeURIComponent(s.id)}`}>
                <Mono>{s.id}</Mono>
              </Link>{' '}
              ({s.protocol}) since <Time at={s.startedAt} />
            </p>
          ))}
        </Card>
        <Card
          title="Identity"
          actions={
            isOperator && (
              <>
                {a.identity.status !== 'verified' && (
                  <Button small onClick={() => setAction({ kind: 'verify' })}>
                    Verify…
                  </Button>
                )}
                {a.identity.status !== 'revoked' && (
                  <Button small variant="danger" onClick={() => setAction({ kind: 'revoke-identity' })}>
                    Revoke…
                  </Button>
                )}
              </>
            )
          }
        >
          <KeyValues
            items={[
              ['Status', <IdentityBadge status={a.identity.status} />],
              ['Subject', a.identity.subject ? <Mono>{a.identity.subject}</Mono> : <span class="muted">none (suspensions bind this account only)</span>],
              ['Method', a.identity.method ?? '—'],
              ['Changed', <Time at={a.identity.changedAt} />],
            ]}
          />
        </Card>
      </div>

      <Card
        title={`Stream keys (${activeKeys.length} active)`}
        actions={
          isOperator && (
            <>
              <Button
                small
                onClick={async () => {
                  try {
                    const r = await api.issueKey(a.handle);
                    setAction({
                      kind: 'secret',
                      title: 'New stream key',
                      secret: r.streamKey,
                      note: 'Shown once: only its hash is stored. Give it to the streamer over a private channel; they type it into OBS or /broadcast.',
                    });
                    void account.reload();
                  } catch (err) {
                    toast(String((err as Error).message), 'bad');
                  }
                }}
              >
                Issue key
              </Button>
              {activeKeys.length > 0 && (
                <Button small variant="danger" onClick={() => setAction({ kind: 'revoke-key', keyId: null })}>
                  Revoke all…
                </Button>
              )}
              <Button
                small
                variant="ghost"
                onClick={async () => {
                  try {
                    const r = await api.issueStreamerToken(a.handle);
                    setAction({
                      kind: 'secret',
                      title: 'Streamer token',
                      secret: r.accountToken,
                      note: `Shown once. The streamer uses it on /broadcast to see their status and appeal.${r.revoked ? ' The previous token was revoked.' : ''}`,
                    });
                  } catch (err) {
                    toast(String((err as Error).message), 'bad');
                  }
                }}
              >
                Issue streamer token
              </Button>
            </>
          )
        }
      >
        {a.keys.length === 0 ? (
          <Empty>No stream keys.</Empty>
        ) : (
          <div class="table-wrap">
            <table class="table">
              <thead>
                <tr>
                  <th>Key</th>
                  <th>Issued</th>
                  <th>Last used</th>
                  <th>Status</th>
                  {isOperator && <th />}
                </tr>
              </thead>
              <tbody>
                {a.keys.map((k) => (
                  <tr key={k.id}>
                    <td>
                      <Mono title={k.id}>{k.prefix}…</Mono>
                    </td>
                    <td>
                      <Time at={k.createdAt} />
                    </td>
                    <td>
                      <Time at={k.lastUsedAt} />
                    </td>
                    <td>
                      {k.revokedAt ? (
                        <Badge>
                          revoked <Time at={k.revokedAt} />
                        </Badge>
                      ) : (
                        <Badge tone="good">active</Badge>
                      )}
                    </td>
                    {isOperator && (
                      <td class="cell-actions">
                        {!k.revokedAt && (
                          <Button small variant="ghost" onClick={() => setAction({ kind: 'revoke-key', keyId: k.id })}>
                            Revoke
                          </Button>
                        )}
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>

      <StrikesCard strikes={strikes.data} error={strikes.error} onVoid={(s) => setAction({ kind: 'void', strike: s })} />
      <HistoryTables a={a} />
      <Card title="History">
        <AuditTable records={a.audit} compact />
      </Card>

      <SuspendDialog open={action?.kind === 'suspend'} handle={a.handle} personBound={a.identity.subject !== null} onClose={close} onDone={reload} />
      <ReasonDialog
        open={action?.kind === 'unsuspend'}
        title={`Lift the suspension of @${a.handle}`}
        description={<p>The account may go live again at once. Strikes stay (void them below if they were wrong).</p>}
        confirmLabel="Lift suspension"
        onClose={close}
        onSubmit={async (reason) => {
          await api.unsuspend(a.handle, reason);
          toast('Suspension lifted');
          await reload();
        }}
      />
      <ReasonDialog
        open={action?.kind === 'verify'}
        title={`Verify the identity of @${a.handle}`}
        confirmLabel="Mark verified"
        reasonRequired={false}
        onClose={close}
        onSubmit={async (reason) => {
          await api.verify(a.handle, { ...(reason ? { reason } : {}), ...(subject.trim() ? { subject: subject.trim() } : {}) });
          toast('Identity verified');
          await reload();
        }}
      >
        <label class="field">
          <span>Identity subject (optional)</span>
          <input value={subject} onInput={(e) => setSubject((e.target as HTMLInputElement).value)} placeholder={a.identity.subject ?? 'person-…'} />
        </label>
      </ReasonDialog>
      <ReasonDialog
        open={action?.kind === 'revoke-identity'}
        title={`Revoke the identity of @${a.handle}`}
        description={<p>Ends its live streams at once; it may not go live until verified again.</p>}
        confirmLabel="Revoke identity"
        danger
        onClose={close}
        onSubmit={async (reason) => {
          await api.revokeIdentity(a.handle, reason);
          toast('Identity revoked');
          await reload();
        }}
      />
      <ReasonDialog
        open={action?.kind === 'revoke-key'}
        title={action?.kind === 'revoke-key' && action.keyId ? 'Revoke this stream key' : 'Revoke every stream key'}
        description={<p>Live streams using {action?.kind === 'revoke-key' && action.keyId ? 'it' : 'them'} end at once.</p>}
        confirmLabel="Revoke"
        danger
        reasonRequired={false}
        onClose={close}
        onSubmit={async (reason) => {
          const keyId = action?.kind === 'revoke-key' ? action.keyId : null;
          const r = await api.revokeKeys(a.handle, { ...(keyId ? { keyId } : {}), ...(reason ? { reason } : {}) });
          toast(`${plural(r.revoked.length, 'key')} revoked`);
          await reload();
        }}
      />
      <ReasonDialog
        open={action?.kind === 'void'}
        title="Void this strike"
        description={
          action?.kind === 'void' && (
            <p>
              It no longer counts toward escalation ({action.strike.category}/{action.strike.severity}). A suspension it caused is not lifted by this.
            </p>
          )
        }
        confirmLabel="Void strike"
        onClose={close}
        onSubmit={async (reason) => {
          if (action?.kind !== 'void') return;
          await api.voidStrike(action.strike.id, reason);
          toast('Strike voided');
          await reload();
        }}
      />
      <SecretDialog
        open={action?.kind === 'secret'}
        title={action?.kind === 'secret' ? action.title : ''}
        secret={action?.kind === 'secret' ? action.secret : ''}
        note={action?.kind === 'secret' ? action.note : ''}
        onClose={close}
      />
    </>
  );
}

function IdentityBadge(props: { status: Account['identity']['status'] }): JSX.Element {
  const tone = props.status === 'verified' ? 'good' : props.status === 'revoked' ? 'bad' : 'warn';
  return <Badge tone={tone}>identity {props.status}</Badge>;
}

function StrikesCard(props: { strikes: Strike[] | undefined; error: unknown; onVoid: (s: Strike) => void }): JSX.Element {
  const active = (props.strikes ?? []).filter((s) => s.active).length;
  return (
    <Card title={`Strikes (${active} active)`}>
      {props.error ? (
        <ErrorBox error={props.error} />
      ) : !props.strikes ? (
        <Loading />
      ) : props.strikes.length === 0 ? (
        <Empty>No strikes.</Empty>
      ) : (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                <th>Strike</th>
                <th>Rule</th>
                <th>Given</th>
                <th>Expires</th>
                <th>Status</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {props.strikes.map((s) => (
                <tr key={s.id} class={s.active ? '' : 'row-dim'}>
                  <td>
                    <Badge tone={severityTone(s.severity)}>{s.severity}</Badge> {s.category}
                  </td>
                  <td>{s.ruleId ?? 'by hand'}</td>
                  <td>
                    <Time at={s.at} />
                  </td>
                  <td>
                    <Time at={s.expiresAt} />
                  </td>
                  <td>{s.voided ? <span title={s.voidReason ?? ''}>voided</span> : s.active ? <Badge tone="bad">active</Badge> : 'expired'}</td>
                  <td class="cell-actions">
                    {s.active && (
                      <Button small variant="ghost" onClick={() => props.onVoid(s)}>
                        Void
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

function HistoryTables(props: { a: Account }): JSX.Element {
  const { a } = props;
  return (
    <div class="grid-2">
      <Card title={`Suspensions (${a.suspensions.length})`}>
        <ListTable
          items={a.suspensions}
          empty={<>Never suspended.</>}
          compact
          columns={['From', 'Until', 'By', 'State']}
          row={(s) => (
            <tr key={s.id} title={s.reason}>
              <td>
                <Time at={s.startsAt} />
              </td>
              <td>{s.permanent ? 'permanent' : <Time at={s.endsAt} />}</td>
              <td>{actorText(s.createdBy)}</td>
              <td>
                {s.liftedAt ? (
                  <span title={s.liftReason ?? ''}>lifted by {actorText(s.liftedBy)}</span>
                ) : s.endsAt && Date.parse(s.endsAt) < Date.now() ? (
                  'ended'
                ) : (
                  <Badge tone="bad">active</Badge>
                )}
              </td>
            </tr>
          )}
        />
      </Card>
      <Card title={`Refused publishes (${a.refusals.length})`}>
        {a.refusals.length === 0 ? (
          <Empty>No refused publishes.</Empty>
        ) : (
          <div class="table-wrap">
            <table class="table table-compact">
              <thead>
                <tr>
                  <th>When</th>
                  <th>Protocol</th>
                  <th>Reason</th>
                </tr>
              </thead>
              <tbody>
                {a.refusals.map((r, i) => (
                  <tr key={i} title={r.detail ?? ''}>
                    <td>
                      <Time at={r.at} />
                    </td>
                    <td>{r.protocol}</td>
                    <td>{r.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      <Card title={`Streams (${a.streams.length})`} class="span-2">
        <ListTable
          items={a.streams}
          empty={<>Never went live.</>}
          compact
          columns={['Stream', 'Protocol', 'Started', 'Ended', 'How it ended']}
          row={(s) => (
            <tr key={s.id}>
              <td>
                <Link href={`/streams/${encodeURIComponent(s.id)}`}>
                  <Mono>{s.id}</Mono>
                </Link>
              </td>
              <td>{s.protocol}</td>
              <td>
                <Time at={s.startedAt} />
              </td>
              <td>{s.endedAt ? <Time at={s.endedAt} /> : <Badge tone="good">live</Badge>}</td>
              <td title={s.endDetail ?? ''}>{s.endReason ?? '—'}</td>
            </tr>
          )}
        />
      </Card>
    </div>
  );
}
