import type { IncidentsTable } from '../store/schema.ts';

/**
 * An incident as the API answers it (gateway/api/incidents.ts), on its own: it needs nothing of Node, so
 * the console (console/src/api/exchanges.ts) imports these types instead of copying them.
 */

export interface IncidentCounts {
  /** Entries added to the incident's banks while it was active (as the nodes saw them arrive). */
  entriesAdded: number;
  /** Still-live streams cut by the retroactive scan, and ended streams flagged for review. */
  retroCuts: number;
  retroFlags: number;
  /** Streams switched to full-rate sampling for the incident (all nodes). */
  streamsEscalated: number;
  /** Decisions of any rule while the incident was active. */
  decisions: number;
  /** Partners whose feed scope includes at least one of the incident's banks (they get its entries pushed). */
  partners: number;
}

export interface IncidentView {
  id: string;
  name: string;
  description: string;
  banks: string[];
  overlayVersionId: number | null;
  status: 'active' | 'ended';
  declaredAt: string;
  declaredBy: string;
  declareReason: string | null;
  endedAt: string | null;
  endedBy: string | null;
  endReason: string | null;
}

export interface IncidentEventView {
  at: string;
  kind: string;
  node: string | null;
  streamId: string | null;
  detail: Record<string, unknown> | null;
}

export function incidentView(r: IncidentsTable): IncidentView {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    banks: JSON.parse(r.banks) as string[],
    overlayVersionId: r.overlay_version_id === null ? null : Number(r.overlay_version_id),
    status: r.status,
    declaredAt: new Date(Number(r.declared_at)).toISOString(),
    declaredBy: r.declared_by,
    declareReason: r.declare_reason,
    endedAt: r.ended_at === null ? null : new Date(Number(r.ended_at)).toISOString(),
    endedBy: r.ended_by,
    endReason: r.end_reason,
  };
}
