import { readFileSync } from 'node:fs';
import type { Kysely } from 'kysely';
import { packagePath } from '../../package/root.ts';
import { formatPolicyError, loadPolicy, type PolicyFormat } from '../../policy/load.ts';
import { withOverlay } from '../../policy/overlay.ts';
import type { Policy } from '../../policy/schema.ts';
import { DomainError, notFound } from '../errors.ts';
import { appendAudit } from '../store/audit.ts';
import type { Database } from '../store/schema.ts';

export const DEFAULT_POLICY_FILE = packagePath('policy', 'default.yaml');

export interface ActivePolicy {
  policy: Policy;
  /** Stored version id; 0 for the built-in default (no version stored yet). */
  versionId: number;
  text: string;
  format: PolicyFormat;
}

function parseOrThrow(text: string, format: PolicyFormat): Policy {
  const result = loadPolicy(text, format);
  if (!result.ok) {
    throw new DomainError('invalid', `invalid policy:\n${result.errors.map((e) => `  ${formatPolicyError(e)}`).join('\n')}`, { errors: result.errors });
  }
  return result.policy;
}

/**
 * Versioned policies. Every submitted policy is stored (author, time, comment); one is active. Running
 * gateways poll the active pointer, so a change applies to running streams on every node without a restart.
 */
export class PolicyStore {
  private active: ActivePolicy;
  private overlay: { versionId: number; policy: Policy } | null = null;
  private merged: { base: Policy; policy: Policy } | null = null;
  /** The shipped default's text (version 0, never a stored row). */
  private readonly shippedText: string;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly defaultFile: string = DEFAULT_POLICY_FILE,
  ) {
    const text = readFileSync(this.defaultFile, 'utf8');
    this.shippedText = text;
    this.active = { policy: parseOrThrow(text, 'yaml'), versionId: 0, text, format: 'yaml' };
  }

  /**
   * Back to the shipped default (version 0): its text is stored as a new version and activated, so every
   * node runs the same text even when their builds' defaults differ. Audited as a submit with
   * `shippedDefault: true`, then an activation.
   */
  async rollbackToShipped(actor: string, reason: string): Promise<ActivePolicy> {
    const policy = parseOrThrow(this.shippedText, 'yaml');
    await this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('policy_versions')
        .values({ text: this.shippedText, format: 'yaml', author: actor, comment: reason, created_at: Date.now() })
        .returning('id')
        .executeTakeFirstOrThrow();
      const id = Number(inserted.id);
      await appendAudit(trx, {
        actor,
        action: 'policy.submit',
        targetType: 'policy',
        targetId: String(id),
        reason,
        detail: { name: policy.name, version: policy.version, activate: true, shippedDefault: true },
      });
      await this.activateIn(trx, id, actor, reason);
    });
    await this.refresh();
    return this.active;
  }

  current(): ActivePolicy {
    return this.active;
  }

  /**
   * What the live path enforces: the active policy, with a crisis overlay in front of it while one is set
   * (policy/overlay.ts; gateway/crisis/ sets it for a declared incident).
   */
  effective(): Policy {
    if (!this.overlay) return this.active.policy;
    if (this.merged?.base !== this.active.policy) this.merged = { base: this.active.policy, policy: withOverlay(this.active.policy, this.overlay.policy) };
    return this.merged.policy;
  }

  /** The overlay laid over the active policy (null: none), with the stored version it came from. */
  setOverlay(overlay: { versionId: number; policy: Policy } | null): void {
    this.overlay = overlay;
    this.merged = null;
  }

  overlayVersion(): number | null {
    return this.overlay?.versionId ?? null;
  }

  /** A stored version parsed (an overlay is one: submitted without activating it). */
  async parsedVersion(id: number): Promise<Policy> {
    const v = await this.version(id);
    return parseOrThrow(v.text, v.format);
  }

  /** Loads the active version from the database; returns true when it changed. */
  async refresh(): Promise<boolean> {
    const row = await this.db
      .selectFrom('policy_active')
      .innerJoin('policy_versions', 'policy_versions.id', 'policy_active.version_id')
      .select(['policy_versions.id', 'policy_versions.text', 'policy_versions.format'])
      .where('policy_active.id', '=', 1)
      .executeTakeFirst();
    if (!row || Number(row.id) === this.active.versionId) return false;
    this.active = { policy: parseOrThrow(row.text, row.format), versionId: Number(row.id), text: row.text, format: row.format };
    return true;
  }

  /** Validates and stores a new version; activates it unless `activate` is false (e.g. kept for a backtest). */
  async submit(text: string, format: PolicyFormat, author: string, comment: string | null, activate = true): Promise<{ versionId: number; policy: Policy }> {
    const policy = parseOrThrow(text, format);
    const versionId = await this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('policy_versions')
        .values({ text, format, author, comment, created_at: Date.now() })
        .returning('id')
        .executeTakeFirstOrThrow();
      const id = Number(inserted.id);
      await appendAudit(trx, {
        actor: author,
        action: 'policy.submit',
        targetType: 'policy',
        targetId: String(id),
        reason: comment,
        detail: { name: policy.name, version: policy.version, activate },
      });
      if (activate) await this.activateIn(trx, id, author, comment);
      return id;
    });
    if (activate) await this.refresh();
    return { versionId, policy };
  }

  async rollback(versionId: number, actor: string, reason: string): Promise<ActivePolicy> {
    await this.db.transaction().execute(async (trx) => {
      const exists = await trx.selectFrom('policy_versions').select('id').where('id', '=', versionId).executeTakeFirst();
      if (!exists) throw notFound(`policy version ${versionId}`);
      await this.activateIn(trx, versionId, actor, reason);
    });
    await this.refresh();
    return this.active;
  }

  private async activateIn(trx: Kysely<Database>, versionId: number, actor: string, reason: string | null): Promise<void> {
    const now = Date.now();
    const updated = await trx
      .updateTable('policy_active')
      .set({ version_id: versionId, activated_at: now, activated_by: actor })
      .where('id', '=', 1)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) {
      await trx.insertInto('policy_active').values({ id: 1, version_id: versionId, activated_at: now, activated_by: actor }).execute();
    }
    await appendAudit(trx, { actor, action: 'policy.activate', targetType: 'policy', targetId: String(versionId), reason, at: now });
  }

  async versions(): Promise<Array<{ id: number; author: string; comment: string | null; createdAt: string; active: boolean }>> {
    const rows = await this.db.selectFrom('policy_versions').select(['id', 'author', 'comment', 'created_at']).orderBy('id', 'desc').execute();
    return rows.map((r) => ({
      id: Number(r.id),
      author: r.author,
      comment: r.comment,
      createdAt: new Date(r.created_at).toISOString(),
      active: Number(r.id) === this.active.versionId,
    }));
  }

  async version(id: number): Promise<{ id: number; text: string; format: PolicyFormat }> {
    const row = await this.db.selectFrom('policy_versions').select(['id', 'text', 'format']).where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound(`policy version ${id}`);
    return { id: Number(row.id), text: row.text, format: row.format };
  }
}
