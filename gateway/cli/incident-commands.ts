import type { Command } from 'commander';
import type { CliKit } from './kit.ts';

/**
 * `modgate incident …`: crisis incidents (gateway/crisis/). Written to the database; every running gateway
 * applies a declared or ended incident within `crisis.pollMs`.
 */
export function registerIncidentCommands(program: Command, kit: CliKit): void {
  const inc = program.command('incident').description('crisis incidents: full-rate sampling, a policy overlay, retroactive scans of new bank entries');

  kit
    .withGlobals(inc.command('declare <name>').description('declare an incident (one at a time); running gateways apply it within a second'))
    .requiredOption('--description <text>', 'what is happening (shown in the incident and its audit)')
    .requiredOption('--banks <list>', "comma-separated banks: their new entries are scanned against every stream's recent frames")
    .option('--overlay <versionId>', 'a stored policy version (modgate policy submit --no-activate) laid over the active policy', (v) => Number(v))
    .option('--reason <text>', 'why (audited)')
    .action(async (name: string, opts: { description: string; banks: string; overlay?: number; reason?: string }) =>
      kit.withStore(opts, async ({ db }) => {
        const { declareIncident, incidentView } = await import('../crisis/incidents.ts');
        const banks = opts.banks
          .split(',')
          .map((b) => b.trim())
          .filter(Boolean);
        const row = await declareIncident(db, kit.actor(), {
          name,
          description: opts.description,
          banks,
          overlayVersionId: opts.overlay ?? null,
          reason: opts.reason ?? null,
        });
        kit.out(
          opts,
          incidentView(row),
          `incident ${row.id} (${name}) declared: banks ${banks.join(', ')}${opts.overlay ? `, overlay policy version ${opts.overlay}` : ''}`,
        );
      }),
    );

  kit.withGlobals(inc.command('list').description('incidents, newest first')).action(async (opts: object) =>
    kit.withStore(opts, async ({ db }) => {
      const { listIncidents, incidentView } = await import('../crisis/incidents.ts');
      const rows = (await listIncidents(db)).map(incidentView);
      kit.out(
        opts,
        { incidents: rows },
        rows.length === 0
          ? 'no incidents'
          : rows
              .map((r) => `${r.id}\t${r.status}\t${r.name}\tbanks ${r.banks.join(',')}\tdeclared ${r.declaredAt}${r.endedAt ? `\tended ${r.endedAt}` : ''}`)
              .join('\n'),
      );
    }),
  );

  kit.withGlobals(inc.command('show <id>').description('an incident with its counts and timeline')).action(async (id: string, opts: object) =>
    kit.withStore(opts, async ({ db }) => {
      const { incidentReport } = await import('../crisis/incidents.ts');
      const r = await incidentReport(db, id);
      const c = r.counts;
      kit.out(
        opts,
        r,
        [
          `${r.incident.id}\t${r.incident.status}\t${r.incident.name}`,
          `entries added ${c.entriesAdded}, retroactive cuts ${c.retroCuts}, ended streams flagged ${c.retroFlags}, streams escalated ${c.streamsEscalated}, decisions ${c.decisions}, partners reached ${c.partners}`,
          ...r.timeline.map(
            (e) => `${e.at}\t${e.kind}${e.streamId ? `\t${e.streamId}` : ''}${e.node ? `\t@${e.node}` : ''}${e.detail ? `\t${JSON.stringify(e.detail)}` : ''}`,
          ),
        ].join('\n'),
      );
    }),
  );

  kit
    .withGlobals(inc.command('end <id>').description('end an incident: normal sampling, the active policy alone'))
    .requiredOption('--reason <text>', 'why (audited)')
    .action(async (id: string, opts: { reason: string }) =>
      kit.withStore(opts, async ({ db }) => {
        const { endIncident, incidentView } = await import('../crisis/incidents.ts');
        const row = await endIncident(db, kit.actor(), id, opts.reason);
        kit.out(opts, incidentView(row), `incident ${id} ended`);
      }),
    );
}
