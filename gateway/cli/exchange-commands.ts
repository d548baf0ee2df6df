import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { CliKit } from './kit.ts';

/**
 * `modgate exchange …`: the hash exchanges this gateway fetches from, and the partners it serves its feed
 * to. A credential is read from a file or an environment variable, never from a flag (flags show in `ps`).
 */
export function registerExchangeCommands(program: Command, kit: CliKit): void {
  const ex = program.command('exchange').description('hash exchanges: fetch shared hashes into banks, serve ours to partners');

  const credentialOf = (opts: { credentialFile?: string; credentialEnv?: string }): string | undefined => {
    if (opts.credentialFile) return readFileSync(opts.credentialFile, 'utf8').trim();
    if (opts.credentialEnv) {
      const v = process.env[opts.credentialEnv];
      if (!v) throw new Error(`environment variable ${opts.credentialEnv} is empty`);
      return v.trim();
    }
    return undefined;
  };

  kit
    .withGlobals(ex.command('add <name>').description('add an exchange; its entries go into a bank of its own (created when absent)'))
    .requiredOption(
      '--kind <kind>',
      'tat (Tech Against Terrorism hash list) | hashlist (URL or file: HMA "pdq <hex>", plain, CSV) | modgate (another gateway\'s feed)',
    )
    .requiredOption('--url <url>', "base URL (tat, modgate) or the list's URL or file path (hashlist)")
    .option('--bank <name>', 'the bank it feeds (default exchange-<name>)')
    .option('--category <c>', "the new bank's category", 'terrorism')
    .option('--severity <s>', "the new bank's severity", 'critical')
    .option('--interval <ms>', 'time between fetches, ms (default 300000)', (v) => Number(v))
    .option('--credential-file <file>', 'file holding the credential (tat: username:password; modgate: the px_ token)')
    .option('--credential-env <var>', 'environment variable holding the credential')
    .action(
      async (
        name: string,
        opts: {
          kind: 'tat';
          url: string;
          bank?: string;
          category: string;
          severity: 'critical';
          interval?: number;
          credentialFile?: string;
          credentialEnv?: string;
        },
      ) => {
        const config = await kit.config(opts);
        const { loadSecretKey } = await import('../security/secret-key.ts');
        const key = loadSecretKey(config.dataDir);
        const credential = credentialOf(opts);
        return kit.withStore(opts, async ({ db }) => {
          const { addExchange, exchangeView } = await import('../exchanges/manage.ts');
          const row = await addExchange(db, key, kit.actor(), {
            name,
            kind: opts.kind,
            url: opts.url,
            category: opts.category,
            severity: opts.severity,
            ...(opts.bank ? { bank: opts.bank } : {}),
            ...(opts.interval ? { intervalMs: opts.interval } : {}),
            ...(credential ? { credential } : {}),
          });
          kit.out(opts, exchangeView(row), `exchange ${row.name} (${row.kind}) added, feeding bank ${row.bank}; a running gateway fetches it within seconds`);
        });
      },
    );

  kit.withGlobals(ex.command('list').description('exchanges with their status: last fetch, checkpoint, errors, counts')).action(async (opts: object) =>
    kit.withStore(opts, async ({ db }) => {
      const { listExchanges, exchangeView } = await import('../exchanges/manage.ts');
      const rows = (await listExchanges(db)).map(exchangeView);
      const when = (ms: number | null) => (ms === null ? 'never' : new Date(ms).toISOString());
      kit.out(
        opts,
        { exchanges: rows },
        rows.length === 0
          ? 'no exchanges (modgate exchange add)'
          : rows
              .map(
                (r) =>
                  `${r.name}\t${r.kind}\t→ ${r.bank}\t${r.enabled ? 'enabled' : 'disabled'}\tlast ok ${when(r.lastSuccessAt)}\t+${r.upserts} −${r.deletes} quarantined ${r.quarantined}${r.lastError && r.failures ? `\tfailing ×${r.failures}: ${r.lastError}` : ''}`,
              )
              .join('\n'),
      );
    }),
  );

  kit
    .withGlobals(ex.command('fetch <name>').description('fetch from an exchange now (in this process) and print the run'))
    .action(async (name: string, opts: object) => {
      const config = await kit.config(opts);
      const { loadSecretKey } = await import('../security/secret-key.ts');
      const key = loadSecretKey(config.dataDir);
      return kit.withStore(opts, async ({ db }) => {
        const [{ ExchangeRunner }, { getExchange, exchangeView }, { default: pino }] = await Promise.all([
          import('../exchanges/runner.ts'),
          import('../exchanges/manage.ts'),
          import('pino'),
        ]);
        await getExchange(db, name);
        const runner = new ExchangeRunner({ db, key, log: pino({ level: 'silent' }), maxPagesPerRun: 1_000 });
        const outcome = await runner.run(name);
        await runner.stop();
        const row = exchangeView(await getExchange(db, name));
        kit.out(
          opts,
          { ...outcome, exchange: row },
          `${name}: ${outcome.pages} page(s), +${outcome.upserts} −${outcome.deletes}, ${outcome.quarantined} quarantined${outcome.error ? `; failed: ${outcome.error}` : ''}; checkpoint ${row.checkpoint ?? 'none'}`,
        );
        if (outcome.error) process.exitCode = 4;
      });
    });

  const partner = ex.command('partner').description('partners this gateway serves its feed to (GET /api/v1/exchange/feed)');
  kit
    .withGlobals(partner.command('add <name>').description('add a partner with the banks it may read; prints its token once'))
    .requiredOption('--banks <list>', 'comma-separated bank names')
    .action(async (name: string, opts: { banks: string }) =>
      kit.withStore(opts, async ({ db }) => {
        const { addPartner, partnerView } = await import('../exchanges/partners.ts');
        const { token, partner: p } = await addPartner(db, kit.actor(), {
          name,
          banks: opts.banks
            .split(',')
            .map((b) => b.trim())
            .filter(Boolean),
        });
        kit.out(
          opts,
          { token, partner: partnerView(p) },
          `${token}\npartner ${p.name} may read ${partnerView(p).banks.join(', ')}; give it the token above (shown once) and this gateway's URL`,
        );
      }),
    );
  kit.withGlobals(partner.command('list').description('partners, their scopes and when they last read')).action(async (opts: object) =>
    kit.withStore(opts, async ({ db }) => {
      const { listPartners, partnerView } = await import('../exchanges/partners.ts');
      const rows = (await listPartners(db)).map(partnerView);
      kit.out(
        opts,
        { partners: rows },
        rows
          .map(
            (p) =>
              `${p.name}\t${p.banks.join(',')}\t${p.revokedAt ? 'revoked' : 'live'}\tlast read ${p.lastSeenAt ? new Date(p.lastSeenAt).toISOString() : 'never'} at ${p.lastCheckpoint ?? '-'}`,
          )
          .join('\n') || 'no partners',
      );
    }),
  );
  kit.withGlobals(partner.command('revoke <name>').description("revoke a partner's token")).action(async (name: string, opts: object) =>
    kit.withStore(opts, async ({ db }) => {
      const { revokePartner } = await import('../exchanges/partners.ts');
      await revokePartner(db, kit.actor(), name);
      kit.out(opts, { revoked: name }, `partner ${name} revoked`);
    }),
  );
}
