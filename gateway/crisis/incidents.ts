import type { Kysely } from 'kysely';
import { loadPolicy } from '../../policy/load.ts';
import { DomainError, notFound } from '../errors.ts';
import { newId } from '../security/secrets.ts';
import { appendAudit } from '../store/audit.ts';
import type { Database, IncidentsTable } from '../store/schema.ts';
import { incidentView, type IncidentCounts, type IncidentEventView, type IncidentView } from './incident-view.ts';

export { incidentView, type IncidentCounts, type IncidentEventView, type IncidentView };

/**
 * Crisis incidents (GIFCT's Content Incident Protocol: an ongoing attack whose footage is spreading): an
 * operator declares one with the banks its hashes go into and, optionally, a stricter policy overlay (a
 * stored policy version, submitted without activating it); an operator ends it. One incident is active
 * at a time: the gateway's emergency footing is one state, and a second attack is another bank of the same
 * incident. Declaring and ending are audited; everything the gateway does for the incident goes into its
 * timeline (incident_events), which the incident's counts are computed from.
 */

export type Incident = IncidentsTable;

export interface DeclareIncident {
  name: string;
  description: string;
  banks: string[];
  overlayVersionId?: number | null;
  reason?: string | null;
}

export async function declareIncident(db: Kysely<Database>, actor: string, input: DeclareIncident, now = Date.now()): Promise<Incident> {
  const banks = [...new Set(input.banks)];
  if (banks.length === 0) throw new DomainError('invalid', 'an incident needs at least one bank');
  return db.transaction().execute(async (trx) => {
    const active = await trx.selectFrom('incidents').select(['id', 'name']).where('status', '=', 'active').executeTakeFirst();
    if (active) throw new DomainError('conflict', `incident ${active.id} (${active.name}) is active: end it first, or add banks to it`);
    const known = await trx.selectFrom('banks').select('name').where('name', 'in', banks).execute();
    const missing = banks.filter((b) => !known.some((k) => k.name === b));
    if (missing.length) throw notFound(`bank ${missing.join(', ')}`);
    const overlay = input.overlayVersionId ?? null;
    if (overlay !== null) {
      const v = await trx.selectFrom('policy_versions').select(['text', 'format']).where('id', '=', overlay).executeTakeFirst();
      if (!v) throw notFound(`policy version ${overlay}`);
      if (!loadPolicy(v.text, v.format).ok) throw new DomainError('invalid', `policy version ${overlay} does not parse`);
    }
    const row: Incident = {
      id: newId('inc', now),
      name: input.name,
      description: input.description,
      banks: JSON.stringify(banks),
      overlay_version_id: overlay,
      status: 'active',
      declared_at: now,
      declared_by: actor,
      declare_reason: input.reason ?? null,
      ended_at: null,
      ended_by: null,
      end_reason: null,
    };
    await trx.insertInto('incidents').values(row).execute();
    await trx
      .insertInto('incident_events')
      .values({
        incident_id: row.id,
        at: now,
        kind: 'declared',
        node: null,
        stream_id: null,
        detail: JSON.stringify({ actor, banks, overlayVersionId: overlay }),
      })
      .execute();
    await appendAudit(trx, {
      actor,
      action: 'incident.declare',
      targetType: 'incident',
      targetId: row.id,
      reason: input.reason ?? null,
      detail: { name: row.name, banks, overlayVersionId: overlay },
      at: now,
    });
    return row;
  });
}

export async function endIncident(db: Kysely<Database>, actor: string, id: string, reason: string, now = Date.now()): Promise<Incident> {
  return db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound(`incident ${id}`);
    if (row.status !== 'active') throw new DomainError('conflict', `incident ${id} has already ended`);
    await trx.updateTable('incidents').set({ status: 'ended', ended_at: now, ended_by: actor, end_reason: reason }).where('id', '=', id).execute();
    await trx
      .insertInto('incident_events')
      .values({ incident_id: id, at: now, kind: 'ended', node: null, stream_id: null, detail: JSON.stringify({ actor, reason }) })
      .execute();
    await appendAudit(trx, { actor, action: 'incident.end', targetType: 'incident', targetId: id, reason, at: now });
    return { ...row, status: 'ended', ended_at: now, ended_by: actor, end_reason: reason };
  });
}

export async function activeIncident(db: Kysely<Database>): Promise<Incident | null> {
  return (await db.selectFrom('incidents').selectAll().where('status', '=', 'active').orderBy('declared_at', 'desc').executeTakeFirst()) ?? null;
}

export async function getIncident(db: Kysely<Database>, id: string): Promise<Incident> {
  const row = await db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw notFound(`incident ${id}`);
  return row;
}

export async function listIncidents(db: Kysely<Database>, limit = 100): Promise<Incident[]> {
  return db.selectFrom('incidents').selectAll().orderBy('declared_at', 'desc').limit(limit).execute();
}

export async function recordIncidentEvent(
  db: Kysely<Database>,
  e: { incidentId: string; kind: string; node?: string | null; streamId?: string | null; detail?: Record<string, unknown>; at?: number },
): Promise<void> {
  await db
    .insertInto('incident_events')
    .values({
      incident_id: e.incidentId,
      at: e.at ?? Date.now(),
      kind: e.kind,
      node: e.node ?? null,
      stream_id: e.streamId ?? null,
      detail: e.detail ? JSON.stringify(e.detail) : null,
    })
    .execute();
}

/** The incident's timeline (oldest first) and its counts. */
export async function incidentReport(
  db: Kysely<Database>,
  id: string,
  now = Date.now(),
): Promise<{ incident: IncidentView; counts: IncidentCounts; timeline: IncidentEventView[] }> {
  const row = await getIncident(db, id);
  const events = await db.selectFrom('incident_events').selectAll().where('incident_id', '=', id).orderBy('id').execute();
  const timeline = events.map((e) => ({
    at: new Date(Number(e.at)).toISOString(),
    kind: e.kind,
    node: e.node,
    streamId: e.stream_id,
    detail: e.detail ? (JSON.parse(e.detail) as Record<string, unknown>) : null,
  }));
  const count = (kind: string) => events.filter((e) => e.kind === kind).length;
  const until = row.ended_at === null ? now : Number(row.ended_at);
  const decisions = await db
    .selectFrom('decisions')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('decided_at', '>=', Number(row.declared_at))
    .where('decided_at', '<=', until)
    .executeTakeFirst();
  const banks = JSON.parse(row.banks) as string[];
  const partners = (await db.selectFrom('exchange_partners').select('banks').where('revoked_at', 'is', null).execute()).filter((p) =>
    (JSON.parse(p.banks) as string[]).some((b) => banks.includes(b)),
  ).length;
  const escalated = events
    .filter((e) => e.kind === 'applied' || e.kind === 'stream_escalated')
    .reduce((n, e) => n + (e.kind === 'applied' ? Number((JSON.parse(e.detail ?? '{}') as { streams?: number }).streams ?? 0) : 1), 0);
  return {
    incident: incidentView(row),
    counts: {
      // Each node records the entries it sees arrive; an entry counts once.
      entriesAdded: new Set(events.filter((e) => e.kind === 'entry_added').map((e) => (JSON.parse(e.detail ?? '{}') as { entryId?: string }).entryId)).size,
      retroCuts: count('retro_cut'),
      retroFlags: count('retro_flag'),
      streamsEscalated: escalated,
      decisions: Number(decisions?.n ?? 0),
      partners,
    },
    timeline,
  };
}
