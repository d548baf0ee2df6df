import path from 'node:path';
import { Option, type Command } from 'commander';
import type { CliKit } from './kit.ts';

/**
 * `modgate report transparency --from 2026-01-01 --to 2026-07-01 [--format json|csv] [--out FILE]`: the DSA
 * transparency report for a period, from the database (README, "Transparency report").
 */
export function registerReportCommands(program: Command, kit: CliKit): void {
  const report = program.command('report').description('reports from the records');
  kit
    .withGlobals(report.command('transparency').description('DSA transparency report (Art. 15/24) for the period [from, to)'))
    .requiredOption('--from <time>', 'start (ISO 8601 date or time, UTC), included')
    .requiredOption('--to <time>', 'end (ISO 8601 date or time, UTC), excluded')
    .addOption(new Option('--format <format>', 'json or csv').choices(['json', 'csv']).default('json'))
    .action(async (opts: { from: string; to: string; format: 'json' | 'csv' }) => {
      const from = Date.parse(opts.from);
      const to = Date.parse(opts.to);
      if (Number.isNaN(from)) throw new Error(`--from: '${opts.from}' is not an ISO 8601 date or time`);
      if (Number.isNaN(to)) throw new Error(`--to: '${opts.to}' is not an ISO 8601 date or time`);
      if (!(to > from)) throw new Error('--to must be after --from');
      await kit.withStore(opts, async ({ db }) => {
        const [{ buildTransparencyReport }, { toCsv }, { DEFAULT_POLICY_FILE, PolicyStore }, config] = await Promise.all([
          import('../accountability/transparency/load.ts'),
          import('../accountability/transparency/report.ts'),
          import('../enforcement/policy-store.ts'),
          kit.config(opts),
        ]);
        const policies = new PolicyStore(db, config.policy.file ? path.resolve(config.policy.file) : DEFAULT_POLICY_FILE);
        await policies.refresh();
        const r = await buildTransparencyReport(db, { from, to }, policies.current().policy);
        process.stdout.write(opts.format === 'csv' ? toCsv(r) : `${JSON.stringify(r, null, 2)}\n`);
      });
    });
}
