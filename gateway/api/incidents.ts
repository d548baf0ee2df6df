import { z } from 'zod';
import { declareIncident, endIncident, incidentReport, incidentView, listIncidents } from '../crisis/incidents.ts';
import type { ApiContext } from './context.ts';
import { errors, json, type ApiApp } from './route.ts';
import { IsoTime, IsoTimeOrNull, JsonObject, Reason } from './schemas.ts';

/**
 * Crisis incidents (gateway/crisis/): an operator declares one (name, description, banks, an optional
 * policy overlay: a stored policy version) and ends it; moderators and operators read it with its timeline
 * and counts. A node applies a declared incident within `crisis.pollMs`.
 */

const IncidentId = z.string().regex(/^inc_[a-z0-9]{9,40}$/, 'an incident id (inc_…)');
const BankName = z.string().min(1).max(64);

const IncidentView = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    banks: z.array(z.string()),
    overlayVersionId: z.number().int().nullable(),
    status: z.enum(['active', 'ended']),
    declaredAt: IsoTime,
    declaredBy: z.string(),
    declareReason: z.string().nullable(),
    endedAt: IsoTimeOrNull,
    endedBy: z.string().nullable(),
    endReason: z.string().nullable(),
  })
  .meta({ id: 'Incident' });

const IncidentReport = z
  .object({
    incident: IncidentView,
    counts: z.object({
      entriesAdded: z.number().int(),
      retroCuts: z.number().int(),
      retroFlags: z.number().int(),
      streamsEscalated: z.number().int(),
      decisions: z.number().int(),
      partners: z.number().int(),
    }),
    timeline: z.array(z.object({ at: IsoTime, kind: z.string(), node: z.string().nullable(), streamId: z.string().nullable(), detail: JsonObject.nullable() })),
  })
  .meta({ id: 'IncidentReport' });

export function incidentRoutes(app: ApiApp, ctx: ApiContext): void {
  const db = ctx.store.db;
  // The node that took the call applies the change at once; the others within crisis.pollMs.
  const applyHere = () => ctx.crisis?.refresh().catch((err) => ctx.log.error({ err }, 'applying the incident change on this node failed; the poll retries'));

  app.route({
    method: 'POST',
    url: '/api/v1/incidents',
    config: { auth: 'operator' },
    schema: {
      summary: 'Declare a crisis incident: full-rate sampling, the policy overlay, retroactive scans of new entries in its banks',
      tags: ['incidents'],
      body: z
        .object({
          name: z.string().trim().min(1).max(200),
          description: z.string().trim().min(1).max(5000),
          banks: z.array(BankName).min(1).max(50),
          overlayVersionId: z
            .number()
            .int()
            .min(1)
            .nullable()
            .optional()
            .describe('A stored policy version (submitted with activate: false) laid over the active policy'),
          reason: Reason.optional(),
        })
        .strict(),
      response: {
        201: json(IncidentReport, 'Declared'),
        ...errors({ 404: 'No such bank or policy version', 409: 'An incident is already active' }),
      },
    },
    handler: async (req, reply) => {
      const row = await declareIncident(db, req.principal.actor, req.body);
      await applyHere();
      await ctx.crisis?.settle();
      return reply.code(201).send(await incidentReport(db, row.id));
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/incidents',
    config: { auth: 'moderator' },
    schema: { summary: 'Incidents, newest first', tags: ['incidents'], response: { 200: json(z.object({ incidents: z.array(IncidentView) }), 'Incidents') } },
    handler: async () => ({ incidents: (await listIncidents(db)).map(incidentView) }),
  });

  app.route({
    method: 'GET',
    url: '/api/v1/incidents/:id',
    config: { auth: 'moderator' },
    schema: {
      summary: 'An incident with its timeline and counts',
      tags: ['incidents'],
      params: z.object({ id: IncidentId }),
      response: { 200: json(IncidentReport, 'The incident'), ...errors({ 404: 'No such incident' }) },
    },
    handler: async (req) => {
      await ctx.crisis?.settle();
      return incidentReport(db, req.params.id);
    },
  });

  app.route({
    method: 'POST',
    url: '/api/v1/incidents/:id/end',
    config: { auth: 'operator' },
    schema: {
      summary: 'End an incident (back to normal sampling and the active policy alone)',
      tags: ['incidents'],
      params: z.object({ id: IncidentId }),
      body: z.object({ reason: Reason }).strict(),
      response: { 200: json(IncidentReport, 'Ended'), ...errors({ 404: 'No such incident', 409: 'Already ended' }) },
    },
    handler: async (req) => {
      await endIncident(db, req.principal.actor, req.params.id, req.body.reason);
      await applyHere();
      await ctx.crisis?.settle();
      return incidentReport(db, req.params.id);
    },
  });
}
