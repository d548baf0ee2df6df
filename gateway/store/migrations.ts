import { randomUUID } from 'node:crypto';
import { Kysely, Migrator, sql, type Migration, type MigrationProvider } from 'kysely';
import type { Dialect } from './schema.ts';

/**
 * Schema migrations, in code so they ship with the package and run at every start. Written once for both
 * dialects; the only differences are the auto-increment column type and the append-only triggers.
 */
function migrations(dialect: Dialect): Record<string, Migration> {
  const serial = dialect === 'postgres' ? 'bigserial' : 'integer';
  const big = dialect === 'postgres' ? 'bigint' : 'integer';
  const autoPk = (col: import('kysely').ColumnDefinitionBuilder) => (dialect === 'postgres' ? col.primaryKey() : col.primaryKey().autoIncrement());

  return {
    '0001_gateway_core': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('accounts')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('handle', 'text', (c) => c.notNull().unique())
          .addColumn('identity_status', 'text', (c) => c.notNull())
          .addColumn('identity_subject', 'text')
          .addColumn('identity_method', 'text')
          .addColumn('identity_changed_at', big)
          .addColumn('created_at', big, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('accounts_subject').on('accounts').column('identity_subject').execute();

        await db.schema
          .createTable('stream_keys')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
          .addColumn('key_hash', 'text', (c) => c.notNull().unique())
          .addColumn('key_prefix', 'text', (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('revoked_at', big)
          .addColumn('last_used_at', big)
          .execute();
        await db.schema.createIndex('stream_keys_account').on('stream_keys').column('account_id').execute();

        await db.schema
          .createTable('streams')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
          .addColumn('key_id', 'text')
          .addColumn('protocol', 'text', (c) => c.notNull())
          .addColumn('remote_addr', 'text')
          .addColumn('started_at', big, (c) => c.notNull())
          .addColumn('ended_at', big)
          .addColumn('end_reason', 'text')
          .addColumn('end_detail', 'text')
          .addColumn('node_id', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('streams_account').on('streams').columns(['account_id', 'started_at']).execute();
        await db.schema.createIndex('streams_open').on('streams').columns(['node_id', 'ended_at']).execute();

        await db.schema
          .createTable('publish_refusals')
          .addColumn('id', serial as 'integer', (c) => autoPk(c))
          .addColumn('at', big, (c) => c.notNull())
          .addColumn('protocol', 'text', (c) => c.notNull())
          .addColumn('remote_addr', 'text')
          .addColumn('account_id', 'text')
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('detail', 'text')
          .execute();
        await db.schema.createIndex('publish_refusals_at').on('publish_refusals').column('at').execute();

        await db.schema
          .createTable('suspensions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
          .addColumn('identity_subject', 'text')
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('starts_at', big, (c) => c.notNull())
          .addColumn('ends_at', big)
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('decision_id', 'text')
          .addColumn('lifted_at', big)
          .addColumn('lifted_by', 'text')
          .addColumn('lift_reason', 'text')
          .execute();
        await db.schema.createIndex('suspensions_account').on('suspensions').column('account_id').execute();
        await db.schema.createIndex('suspensions_subject').on('suspensions').column('identity_subject').execute();

        await db.schema
          .createTable('admin_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('revoked_at', big)
          .addColumn('last_used_at', big)
          .execute();

        await db.schema
          .createTable('audit_log')
          .addColumn('id', serial as 'integer', (c) => autoPk(c))
          .addColumn('at', big, (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('target_type', 'text', (c) => c.notNull())
          .addColumn('target_id', 'text', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('detail', 'text')
          .execute();
        await db.schema.createIndex('audit_target').on('audit_log').columns(['target_type', 'target_id']).execute();
        await db.schema.createIndex('audit_at').on('audit_log').column('at').execute();

        await db.schema
          .createTable('identity_events')
          .addColumn('event_id', 'text', (c) => c.primaryKey())
          .addColumn('received_at', big, (c) => c.notNull())
          .addColumn('event_type', 'text', (c) => c.notNull())
          .addColumn('handle', 'text')
          .addColumn('subject', 'text')
          .addColumn('outcome', 'text', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('gate_changes')
          .addColumn('seq', serial as 'integer', (c) => autoPk(c))
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('at', big, (c) => c.notNull())
          .execute();

        // The audit log is append-only at the storage layer too, not just by API convention.
        if (dialect === 'postgres') {
          await sql`CREATE OR REPLACE FUNCTION modgate_audit_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql`.execute(db);
          await sql`CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION modgate_audit_append_only()`.execute(db);
        } else {
          await sql`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`.execute(db);
          await sql`CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`.execute(db);
        }
      },
    },
    '0002_moderation': {
      async up(db: Kysely<unknown>) {
        // Banks of known violating content (PDQ). Entries are never deleted, only disabled, so a decision's
        // evidence always resolves to the entry that matched.
        await db.schema
          .createTable('banks')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('description', 'text')
          .addColumn('default_category', 'text', (c) => c.notNull())
          .addColumn('default_severity', 'text', (c) => c.notNull())
          .addColumn('radius', 'integer', (c) => c.notNull())
          .addColumn('enabled', 'integer', (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('bank_entries')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('bank', 'text', (c) => c.notNull().references('banks.name'))
          .addColumn('hash', 'text', (c) => c.notNull())
          .addColumn('category', 'text', (c) => c.notNull())
          .addColumn('severity', 'text', (c) => c.notNull())
          .addColumn('source', 'text')
          .addColumn('note', 'text')
          .addColumn('added_by', 'text', (c) => c.notNull())
          .addColumn('added_at', big, (c) => c.notNull())
          .addColumn('enabled', 'integer', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('bank_entries_bank_hash').unique().on('bank_entries').columns(['bank', 'hash']).execute();
        await db.schema
          .createTable('bank_changes')
          .addColumn('seq', serial as 'integer', (c) => autoPk(c))
          .addColumn('bank', 'text', (c) => c.notNull())
          .addColumn('entry_id', 'text')
          .addColumn('at', big, (c) => c.notNull())
          .execute();

        // Signals worth keeping (above the evidence floor, every match and stall): the input of backtests.
        await db.schema
          .createTable('signals')
          .addColumn('id', serial as 'integer', (c) => autoPk(c))
          .addColumn('stream_id', 'text', (c) => c.notNull())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('observed_at', big, (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('signals_time').on('signals').column('observed_at').execute();
        await db.schema.createIndex('signals_stream').on('signals').columns(['stream_id', 'observed_at']).execute();

        await db.schema
          .createTable('decisions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('stream_id', 'text', (c) => c.notNull())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('identity_subject', 'text')
          .addColumn('rule_id', 'text', (c) => c.notNull())
          .addColumn('policy_version', 'text', (c) => c.notNull())
          .addColumn('shadow', 'integer', (c) => c.notNull())
          .addColumn('actions', 'text', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('evidence', 'text', (c) => c.notNull())
          .addColumn('decided_at', big, (c) => c.notNull())
          .addColumn('decided_by', 'text', (c) => c.notNull())
          // none | pending | confirmed | overturned
          .addColumn('review_status', 'text', (c) => c.notNull())
          .addColumn('review_priority', 'text')
          .addColumn('reviewed_by', 'text')
          .addColumn('reviewed_at', big)
          .addColumn('review_reason', 'text')
          .execute();
        await db.schema.createIndex('decisions_review').on('decisions').columns(['review_status', 'decided_at']).execute();
        await db.schema.createIndex('decisions_account').on('decisions').columns(['account_id', 'decided_at']).execute();

        await db.schema
          .createTable('strikes')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('identity_subject', 'text')
          .addColumn('stream_id', 'text')
          .addColumn('decision_id', 'text')
          .addColumn('category', 'text', (c) => c.notNull())
          .addColumn('severity', 'text', (c) => c.notNull())
          .addColumn('rule_id', 'text', (c) => c.notNull())
          .addColumn('at', big, (c) => c.notNull())
          .addColumn('expires_at', big, (c) => c.notNull())
          .addColumn('voided_at', big)
          .addColumn('voided_by', 'text')
          .addColumn('void_reason', 'text')
          .execute();
        await db.schema.createIndex('strikes_account').on('strikes').column('account_id').execute();
        await db.schema.createIndex('strikes_subject').on('strikes').column('identity_subject').execute();

        await db.schema
          .createTable('appeals')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('decision_id', 'text', (c) => c.notNull().unique())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('statement', 'text', (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          // open | upheld | overturned
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('decided_by', 'text')
          .addColumn('decided_at', big)
          .addColumn('outcome_reason', 'text')
          .execute();

        // Streamer-facing tokens (status and appeals), hashed like every other secret.
        await db.schema
          .createTable('account_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('revoked_at', big)
          .execute();

        await db.schema
          .createTable('policy_versions')
          .addColumn('id', serial as 'integer', (c) => autoPk(c))
          .addColumn('text', 'text', (c) => c.notNull())
          .addColumn('format', 'text', (c) => c.notNull())
          .addColumn('author', 'text', (c) => c.notNull())
          .addColumn('comment', 'text')
          .addColumn('created_at', big, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('policy_active')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('version_id', big, (c) => c.notNull())
          .addColumn('activated_at', big, (c) => c.notNull())
          .addColumn('activated_by', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0040_age_and_person_bans': {
      async up(db: Kysely<unknown>) {
        // Age assurance: the provider's claim that the person is at least `age_over` years old (never a birth
        // date), how it was established and when.
        await db.schema.alterTable('accounts').addColumn('age_over', 'integer').execute();
        await db.schema.alterTable('accounts').addColumn('age_source', 'text').execute();
        await db.schema.alterTable('accounts').addColumn('age_checked_at', big).execute();
        // Bans of a person (court-ordered or platform), bound to the identity subject rather than an account,
        // so they refuse accounts verified after the ban as well.
        await db.schema
          .createTable('person_bans')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('identity_subject', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('legal_reference', 'text')
          .addColumn('authority', 'text')
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('starts_at', big, (c) => c.notNull())
          .addColumn('ends_at', big)
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('lifted_at', big)
          .addColumn('lifted_by', 'text')
          .addColumn('lift_reason', 'text')
          .execute();
        await db.schema.createIndex('person_bans_subject').on('person_bans').column('identity_subject').execute();
      },
    },
    // Media-server hooks (issue 15): the upstream server a stream or refusal came through (null: native ingest).
    '0043_statements_per_account_and_categories': {
      async up(db: Kysely<unknown>) {
        // A suspension or a ban binds the person, so every account of theirs (also one verified later) gets
        // its own statement of reasons: one statement per restriction and account, not per restriction.
        await db.schema.dropIndex('statements_source').execute();
        await db.schema.createIndex('statements_source_account').unique().on('statements').columns(['source_kind', 'source_id', 'account_id']).execute();
        // What a moderator's suspension or a ban was for (a bank or strike category such as `graphic-violence`),
        // so its statement states the matching ground and DSA category; null: the terms of service in general.
        await db.schema.alterTable('suspensions').addColumn('category', 'text').execute();
        await db.schema.alterTable('person_bans').addColumn('category', 'text').execute();
      },
    },
    '0050_media_server_hooks': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('streams').addColumn('server', 'text').execute();
        await db.schema.alterTable('publish_refusals').addColumn('server', 'text').execute();
      },
    },
    '0010_change_feed_xid': {
      async up(db: Kysely<unknown>) {
        // PostgreSQL: each change row records its writer's transaction id, so readers can read the feeds in
        // commit order without gaps (gateway/store/change-feed.ts). SQLite commits one writer at a time, so
        // sequence order is commit order there and nothing changes. Older rows keep a null xid: readers
        // load the full state at start and only read rows written after that.
        if (dialect !== 'postgres') return;
        for (const table of ['gate_changes', 'bank_changes']) {
          await sql`ALTER TABLE ${sql.table(table)} ADD COLUMN xid xid8`.execute(db);
          await sql`ALTER TABLE ${sql.table(table)} ALTER COLUMN xid SET DEFAULT pg_current_xact_id()`.execute(db);
          await sql`CREATE INDEX ${sql.id(`${table}_xid`)} ON ${sql.table(table)} (xid)`.execute(db);
        }
      },
    },
    '0010_nodes': {
      async up(db: Kysely<unknown>) {
        // Gateway nodes and their heartbeats: a node whose heartbeat is stale has its streams closed as
        // node_lost by another (gateway/live/nodes.ts).
        await db.schema
          .createTable('nodes')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('started_at', big, (c) => c.notNull())
          .addColumn('heartbeat_at', big, (c) => c.notNull())
          .addColumn('http_url', 'text')
          .addColumn('rtmp_url', 'text')
          .addColumn('stopped_at', big)
          .addColumn('lost_at', big)
          .addColumn('lost_by', 'text')
          .execute();
        // Cuts asked for on one node for a stream another carries.
        await db.schema
          .createTable('cut_requests')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('stream_id', 'text', (c) => c.notNull())
          .addColumn('node_id', 'text', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('message', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('detail', 'text')
          .addColumn('requested_at', big, (c) => c.notNull())
          .addColumn('done_at', big)
          .addColumn('outcome', 'text')
          .execute();
        await db.schema.createIndex('cut_requests_pending').on('cut_requests').columns(['node_id', 'done_at']).execute();
        await db.schema.createIndex('streams_live').on('streams').columns(['ended_at', 'account_id']).execute();
      },
    },
    '0010_notify': {
      async up(db: Kysely<unknown>) {
        // PostgreSQL: announce each change to the other nodes in the transaction that makes it (NOTIFY is
        // delivered at commit, never for a rolled-back change); gateway/store/notifications.ts listens.
        if (dialect !== 'postgres') return;
        await sql`CREATE OR REPLACE FUNCTION modgate_notify_change() RETURNS trigger AS $$
          BEGIN PERFORM pg_notify('modgate_changes', TG_ARGV[0]); RETURN NULL; END; $$ LANGUAGE plpgsql`.execute(db);
        const triggers: Array<[string, string, string]> = [
          ['gate_changes', 'INSERT', 'gate'],
          ['bank_changes', 'INSERT', 'bank'],
          ['policy_active', 'INSERT OR UPDATE', 'policy'],
          ['cut_requests', 'INSERT', 'cut'],
        ];
        for (const [table, events, kind] of triggers) {
          await sql
            .raw(`CREATE TRIGGER ${table}_notify AFTER ${events} ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION modgate_notify_change('${kind}')`)
            .execute(db);
        }
      },
    },
    '0010_notify_commit_time': {
      async up(db: Kysely<unknown>) {
        // The payload becomes `kind:epoch-ms` (the change's time in its transaction, just before commit), so a
        // listener measures notification lag (gateway/metrics.ts). Listeners also accept a bare `kind`.
        if (dialect !== 'postgres') return;
        await sql`CREATE OR REPLACE FUNCTION modgate_notify_change() RETURNS trigger AS $$
          BEGIN PERFORM pg_notify('modgate_changes', TG_ARGV[0] || ':' || floor(extract(epoch from clock_timestamp()) * 1000)::bigint::text); RETURN NULL; END; $$ LANGUAGE plpgsql`.execute(
          db,
        );
      },
    },
    '0010_refusal_counts': {
      async up(db: Kysely<unknown>) {
        // Repeated refusals of unauthenticated callers are one row per source and reason per window
        // (gateway/security/refusal-audit.ts): the row says how many it stands for and when the last was.
        await db.schema
          .alterTable('publish_refusals')
          .addColumn('count', 'integer', (c) => c.notNull().defaultTo(1))
          .execute();
        await db.schema.alterTable('publish_refusals').addColumn('last_at', big).execute();
      },
    },
    '0011_applied_units': {
      async up(db: Kysely<unknown>) {
        // The stable ids of units of work already written (gateway/store/journal/): replaying the local
        // journal after an outage skips what is here, so nothing is written twice.
        await db.schema
          .createTable('applied_units')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('node_id', 'text')
          .addColumn('applied_at', big, (c) => c.notNull())
          .addColumn('via', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0012_stream_claims': {
      async up(db: Kysely<unknown>) {
        // A row the local journal's replay wrote for a stream that went live during an outage holds no claim
        // on its account until its node makes one (gateway/live/registry.ts): two nodes that each took the
        // account live during one outage would otherwise each see the other's row and cut both. Every row
        // already on record was written with its claim (or is ended), so 0 is right for them.
        await db.schema
          .alterTable('streams')
          .addColumn('claim_pending', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
      },
    },
    '0041_statements_of_reasons': {
      async up(db: Kysely<unknown>) {
        // One DSA statement of reasons per restriction (an enforced decision, or a suspension made on its own),
        // and its delivery to the Transparency Database (the outbox).
        await db.schema
          .createTable('statements')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('puid', 'text', (c) => c.notNull().unique())
          .addColumn('source_kind', 'text', (c) => c.notNull())
          .addColumn('source_id', 'text', (c) => c.notNull())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('decision_id', 'text')
          .addColumn('decided_at', big, (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('plain', 'text', (c) => c.notNull())
          .addColumn('restriction', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('overturned_at', big)
          .addColumn('overturn_reason', 'text')
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('delivery', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull())
          .addColumn('next_attempt_at', big, (c) => c.notNull())
          .addColumn('submitted_at', big)
          .addColumn('last_error', 'text')
          .execute();
        await db.schema.createIndex('statements_source').unique().on('statements').columns(['source_kind', 'source_id']).execute();
        await db.schema.createIndex('statements_account').on('statements').columns(['account_id', 'decided_at']).execute();
        await db.schema.createIndex('statements_delivery').on('statements').columns(['delivery', 'next_attempt_at']).execute();
      },
    },
    '0020_bank_entry_regions': {
      // Derived entries: hashes of fixed crops of banked content (centre crops, tiles, the trimmed picture),
      // each pointing at the entry it was cut from, so a cropped or partly covered re-stream still matches and
      // the match is reported against the banked content itself.
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('bank_entries').addColumn('derived_from', 'text').execute();
        await db.schema.alterTable('bank_entries').addColumn('region', 'text').execute();
        await db.schema.createIndex('bank_entries_derived_from').on('bank_entries').column('derived_from').execute();
      },
    },
    '0021_bank_entry_signal_types': {
      // Entries of other signal types than PDQ: the learned copy descriptor (classifiers/copy) is stored as a
      // derived entry of the content's PDQ entry, so disabling, exporting and the change feed treat it as the
      // crops are treated; each live index reads only the type it understands.
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable('bank_entries')
          .addColumn('signal_type', 'text', (c) => c.notNull().defaultTo('pdq'))
          .execute();
      },
    },
    '0042_viewer_reports_and_removal_orders': {
      async up(db: Kysely<unknown>) {
        // Viewer reports of a live stream (no account): the source is kept only as a keyed hash whose key
        // rotates, never as an address.
        await db.schema
          .createTable('viewer_reports')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('stream_id', 'text', (c) => c.notNull())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('category', 'text', (c) => c.notNull())
          .addColumn('note', 'text')
          .addColumn('source_hash', 'text', (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('handled_at', big)
          .addColumn('handled_by', 'text')
          .addColumn('action', 'text')
          .addColumn('handle_reason', 'text')
          .execute();
        await db.schema.createIndex('viewer_reports_stream').on('viewer_reports').columns(['stream_id', 'created_at']).execute();
        await db.schema.createIndex('viewer_reports_status').on('viewer_reports').columns(['status', 'created_at']).execute();
        // Removal orders from competent authorities (Regulation (EU) 2021/784, Art. 3: one hour to act).
        await db.schema
          .createTable('removal_orders')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('authority', 'text', (c) => c.notNull())
          .addColumn('member_state', 'text', (c) => c.notNull())
          .addColumn('reference', 'text', (c) => c.notNull())
          .addColumn('legal_basis', 'text', (c) => c.notNull())
          .addColumn('order_type', 'text', (c) => c.notNull())
          .addColumn('target_kind', 'text', (c) => c.notNull())
          .addColumn('stream_id', 'text')
          .addColumn('account_id', 'text')
          .addColumn('description', 'text')
          .addColumn('received_at', big, (c) => c.notNull())
          .addColumn('received_by', 'text', (c) => c.notNull())
          .addColumn('deadline_at', big, (c) => c.notNull())
          .addColumn('acknowledged_at', big)
          .addColumn('executed_at', big)
          .addColumn('executed_by', 'text')
          .addColumn('actions', 'text')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('status_reason', 'text')
          .addColumn('overdue_at', big)
          .execute();
        await db.schema.createIndex('removal_orders_status').on('removal_orders').columns(['status', 'deadline_at']).execute();
        await db.schema.createIndex('removal_orders_reference').unique().on('removal_orders').columns(['authority', 'reference']).execute();
      },
    },
    '0030_exchanges': {
      // Hash exchanges (gateway/exchanges/): sources this gateway fetches from, each feeding a bank of its own,
      // with its checkpoint and fetch status; entries of a page that failed validation, set aside for review;
      // and the partners this gateway serves its own feed to, each with a token (stored hashed) and bank scope.
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('exchanges')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('url', 'text', (c) => c.notNull())
          .addColumn('bank', 'text', (c) => c.notNull())
          .addColumn('credential', 'text')
          .addColumn('interval_ms', 'integer', (c) => c.notNull())
          .addColumn('enabled', 'integer', (c) => c.notNull())
          .addColumn('checkpoint', 'text')
          .addColumn('last_fetch_at', big)
          .addColumn('last_success_at', big)
          .addColumn('last_error', 'text')
          .addColumn('last_error_at', big)
          .addColumn('failures', 'integer', (c) => c.notNull())
          .addColumn('next_fetch_at', big)
          .addColumn('upserts', big, (c) => c.notNull())
          .addColumn('deletes', big, (c) => c.notNull())
          .addColumn('quarantined', big, (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('exchange_quarantine')
          .addColumn('id', serial as 'integer', (c) => autoPk(c))
          .addColumn('exchange', 'text', (c) => c.notNull())
          .addColumn('at', big, (c) => c.notNull())
          .addColumn('checkpoint', 'text')
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('raw', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('exchange_quarantine_exchange').on('exchange_quarantine').columns(['exchange', 'at']).execute();
        await db.schema
          .createTable('exchange_partners')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('banks', 'text', (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('revoked_at', big)
          .addColumn('last_seen_at', big)
          .addColumn('last_checkpoint', 'text')
          .execute();
      },
    },
    '0031_opinions_negative_banks_flood_guard': {
      // Issue 13 item 3: negative banks (`kind`) whose matches suppress positive ones; a bank's gradual rollout
      // (`matching_enabled_ratio`, HMA's BankConfig); an entry's opinion (a moderator confirmed or deconfirmed
      // a third-party signal), its quarantine (a flood of matches, or a partner's deconfirmation: it still
      // matches and is logged but cuts nothing until a moderator looks) and a cleared flood's exemption;
      // opinions given and received; and the moderators' queue of quarantined entries.
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable('banks')
          .addColumn('kind', 'text', (c) => c.notNull().defaultTo('positive'))
          .execute();
        await db.schema
          .alterTable('banks')
          .addColumn('matching_enabled_ratio', (dialect === 'postgres' ? 'double precision' : 'real') as 'real', (c) => c.notNull().defaultTo(1))
          .execute();
        await db.schema.alterTable('bank_entries').addColumn('opinion', 'text').execute();
        await db.schema
          .alterTable('bank_entries')
          .addColumn('quarantined', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .alterTable('bank_entries')
          .addColumn('flood_exempt', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .createTable('entry_opinions')
          .addColumn('id', serial as 'integer', (c) => autoPk(c))
          .addColumn('at', big, (c) => c.notNull())
          .addColumn('bank', 'text')
          .addColumn('entry_id', 'text')
          .addColumn('signal_type', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .addColumn('category', 'text', (c) => c.notNull())
          .addColumn('tags', 'text', (c) => c.notNull())
          .addColumn('is_mine', 'integer', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('exchange', 'text')
          .addColumn('reported_at', big)
          .addColumn('report_error', 'text')
          .execute();
        await db.schema.createIndex('entry_opinions_hash').on('entry_opinions').columns(['hash', 'at']).execute();
        await db.schema
          .createTable('entry_quarantines')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('entry_id', 'text', (c) => c.notNull())
          .addColumn('bank', 'text', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('detail', 'text', (c) => c.notNull())
          .addColumn('at', big, (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('handled_by', 'text')
          .addColumn('handled_at', big)
          .addColumn('handle_reason', 'text')
          .execute();
        await db.schema.createIndex('entry_quarantines_status').on('entry_quarantines').columns(['status', 'at']).execute();
        await db.schema.createIndex('entry_quarantines_entry').on('entry_quarantines').column('entry_id').execute();
      },
    },
    '0030_hma_content_ids': {
      // HMA's API names banked content by an integer (`bank_content_id`); entries here are text ids. A stable
      // integer per entry, handed out when HMA-compatible routes first name it.
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('hma_content_ids')
          .addColumn('id', serial as 'integer', (c) => autoPk(c))
          .addColumn('entry_id', 'text', (c) => c.notNull().unique())
          .execute();
      },
    },
    '0033_bank_entry_video_frames': {
      // vPDQ (video) entries: one entry per video, signal type `vpdq`, its frame hashes here as vPDQ's compact
      // lines (classifiers/vpdq/frames.ts). Not in `hash`: that column is uniquely indexed, and a PostgreSQL
      // B-tree entry holds at most ~2.7 kB (a 10-minute video is ~45 kB); `hash` keeps the video's identity.
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('bank_entries').addColumn('frames', 'text').execute();
      },
    },
    '0060_bank_entry_pictures': {
      // A small JPEG of what an entry was hashed from (a banked picture, or the confirmed decision's evidence
      // frame), so a moderator sees the banked content beside the frame that matched it. In the database, not
      // in a node's data dir: every node serves it.
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('bank_entry_pictures')
          .addColumn('entry_id', 'text', (c) => c.primaryKey())
          .addColumn('jpeg', dialect === 'postgres' ? 'bytea' : 'blob', (c) => c.notNull())
          .addColumn('width', 'integer', (c) => c.notNull())
          .addColumn('height', 'integer', (c) => c.notNull())
          .addColumn('origin', 'text', (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          .execute();
      },
    },
    '0061_console_events': {
      // Console push events of every node (gateway/events/relay.ts): each node writes the events of its own
      // streams, decisions and reports here and reads the others', so a console open on any node sees the
      // whole platform. Rows are kept minutes, not history (the audit log is that). PostgreSQL only in use
      // (SQLite is one node), created on both so the schema is one; PostgreSQL rows carry their writer's
      // xid for the gap-free reader (change-feed.ts) and an insert announces 'event' to the listeners.
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('console_events')
          .addColumn('seq', serial as 'integer', (c) => autoPk(c))
          .addColumn('node_id', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('data', 'text', (c) => c.notNull())
          .addColumn('at', big, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('console_events_at').on('console_events').column('at').execute();
        if (dialect !== 'postgres') return;
        await sql`ALTER TABLE console_events ADD COLUMN xid xid8 DEFAULT pg_current_xact_id()`.execute(db);
        await sql`CREATE INDEX console_events_xid ON console_events (xid)`.execute(db);
        await sql
          .raw(`CREATE TRIGGER console_events_notify AFTER INSERT ON console_events FOR EACH STATEMENT EXECUTE FUNCTION modgate_notify_change('event')`)
          .execute(db);
      },
    },
    '0032_incidents': {
      // Crisis mode (gateway/crisis/): incidents an operator declares and ends, and each incident's timeline.
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('incidents')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('banks', 'text', (c) => c.notNull())
          .addColumn('overlay_version_id', 'integer')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('declared_at', big, (c) => c.notNull())
          .addColumn('declared_by', 'text', (c) => c.notNull())
          .addColumn('declare_reason', 'text')
          .addColumn('ended_at', big)
          .addColumn('ended_by', 'text')
          .addColumn('end_reason', 'text')
          .execute();
        await db.schema.createIndex('incidents_status').on('incidents').columns(['status', 'declared_at']).execute();
        await db.schema
          .createTable('incident_events')
          .addColumn('id', serial as 'integer', (c) => autoPk(c))
          .addColumn('incident_id', 'text', (c) => c.notNull())
          .addColumn('at', big, (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('node', 'text')
          .addColumn('stream_id', 'text')
          .addColumn('detail', 'text')
          .execute();
        await db.schema.createIndex('incident_events_incident').on('incident_events').columns(['incident_id', 'id']).execute();
      },
    },
    '0035_opinion_delivery': {
      // Our opinions are delivered to the exchange that fed the entry through an outbox
      // (gateway/exchanges/opinion-outbox.ts): `delivery` pending | delivered | not_taken (its kind takes
      // none, or the exchange is gone), retried with back-off at `next_attempt_at`. `idempotency_key`: on our
      // opinions the key sent with each attempt, on a partner's the key it sent, so a retry whose first answer
      // was lost is recorded once. Opinions from before this migration whose report failed were dropped then:
      // they are pending now (sent again); those reported are delivered; those with no report, not taken.
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('entry_opinions').addColumn('delivery', 'text').execute();
        await db.schema
          .alterTable('entry_opinions')
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema.alterTable('entry_opinions').addColumn('next_attempt_at', big).execute();
        await db.schema.alterTable('entry_opinions').addColumn('idempotency_key', 'text').execute();
        await db.schema.createIndex('entry_opinions_delivery').on('entry_opinions').columns(['delivery', 'next_attempt_at']).execute();
        await db.schema.createIndex('entry_opinions_idempotency').on('entry_opinions').columns(['idempotency_key']).execute();
        await sql`UPDATE entry_opinions SET delivery = 'delivered' WHERE is_mine = 1 AND exchange IS NOT NULL AND reported_at IS NOT NULL`.execute(db);
        await sql`UPDATE entry_opinions SET delivery = 'not_taken' WHERE is_mine = 1 AND exchange IS NOT NULL AND reported_at IS NULL AND report_error IS NULL`.execute(
          db,
        );
        const failed = await sql<{
          id: number;
        }>`SELECT id FROM entry_opinions WHERE is_mine = 1 AND exchange IS NOT NULL AND reported_at IS NULL AND report_error IS NOT NULL`.execute(db);
        for (const r of failed.rows)
          await sql`UPDATE entry_opinions SET delivery = 'pending', next_attempt_at = 0, idempotency_key = ${randomUUID()} WHERE id = ${r.id}`.execute(db);
      },
    },
    '0044_appeal_targets': {
      // A streamer appeals a suspension or a platform ban of their own, not only a decision (DSA Art. 20(1)(b)-(c):
      // complaints against decisions to suspend the account): a moderator's suspension from the account page, a
      // platform ban of the person, have no decision to appeal. The appealed restriction is (target_kind,
      // target_id); ids carry their kind's prefix (dec_, sus_, ban_), so the one unique index still allows one
      // appeal per restriction.
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('appeals').renameColumn('decision_id', 'target_id').execute();
        await db.schema
          .alterTable('appeals')
          .addColumn('target_kind', 'text', (c) => c.notNull().defaultTo('decision'))
          .execute();
      },
    },
    '0070_partner_opinion_receipts': {
      // One row per Idempotency-Key a partner sent with an opinion (gateway/exchanges/opinions.ts), taken with
      // INSERT … ON CONFLICT DO NOTHING: two deliveries of one key at once (a retry that overtook the first
      // attempt, two nodes) record it once. The select-then-insert before this let both in on PostgreSQL. An
      // opinion can be several entry_opinions rows (one per entry of the hash), hence a table of its own.
      // Keys already recorded are carried over, so a retry of one of them stays a duplicate.
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('partner_opinion_receipts')
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('idempotency_key', 'text', (c) => c.notNull())
          .addColumn('at', big, (c) => c.notNull())
          .addPrimaryKeyConstraint('partner_opinion_receipts_pk', ['source', 'idempotency_key'])
          .execute();
        await sql`INSERT INTO partner_opinion_receipts (source, idempotency_key, at)
          SELECT source, idempotency_key, MIN(at) FROM entry_opinions
          WHERE is_mine = 0 AND idempotency_key IS NOT NULL GROUP BY source, idempotency_key`.execute(db);
      },
    },
  };
}

class InCodeProvider implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.dialect);
  }
}

export async function migrateToLatest(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  // Migration names carry a per-area prefix (0010_ multi-node, 0040_ accountability, …) and areas land in any
  // order: a database that already ran 0040_ must still run a later-landed 0010_.
  const migrator = new Migrator({ db, provider: new InCodeProvider(dialect), allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    const name = failed ? ` (${failed.migrationName})` : '';
    throw new Error(`database migration failed${name}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
