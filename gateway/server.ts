import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildHttpServer, type RouteModule } from './api/http.ts';
import { databaseUrl, type Config } from './config.ts';
import { GateEnforcer } from './enforcement/gate-enforcer.ts';
import { GateState } from './identity/gate-sync.ts';
import { recordRefusal } from './ingest/refusals.ts';
import { RtmpIngest } from './ingest/rtmp.ts';
import { WsIngest } from './ingest/websocket.ts';
import { LiveRegistry } from './live/registry.ts';
import { createLogger } from './log.ts';
import { openStore, type Store } from './store/db.ts';
import { VERSION } from './version.ts';

export interface Gateway {
  config: Config;
  store: Store;
  registry: LiveRegistry;
  gate: GateState;
  enforcer: GateEnforcer;
  http: FastifyInstance;
  rtmpPort: number;
  httpPort: number;
  log: Logger;
  stop(): Promise<void>;
}

/** A stable id per data directory, so a restarted gateway can close the streams its previous run left open. */
function nodeId(dataDir: string): string {
  const file = path.join(dataDir, 'node-id');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    const id = `node_${randomBytes(6).toString('hex')}`;
    writeFileSync(file, `${id}\n`);
    return id;
  }
}

export interface StartOptions {
  log?: Logger;
  extraRoutes?: RouteModule[];
}

export async function startGateway(config: Config, opts: StartOptions = {}): Promise<Gateway> {
  const log = opts.log ?? createLogger(config.log.level);
  mkdirSync(config.dataDir, { recursive: true });
  const store = await openStore(databaseUrl(config));
  const onError = (err: unknown, context: string) => log.error({ err }, context);

  const registry = new LiveRegistry(store.db, nodeId(config.dataDir), onError);
  const orphans = await registry.closeOrphans();
  if (orphans > 0) log.warn({ orphans }, 'closed streams left open by a previous run');

  const gate = new GateState(store.db);
  await gate.loadAll();
  const enforcer = new GateEnforcer(gate, registry, log);
  enforcer.start(config.syncIntervalMs);

  const refuse = (r: Parameters<typeof recordRefusal>[1]) => {
    log.info({ protocol: r.protocol, remote: r.remoteAddr, reason: r.reason }, 'publish refused');
    void recordRefusal(store.db, r, onError);
  };
  const rtmp = new RtmpIngest(config.rtmp, { gate: () => gate, registry, refuse, log });
  const ws = new WsIngest(config.ingest.ws, { gate: () => gate, registry, refuse, log });
  const http = await buildHttpServer({ store, gate, enforcer, registry, config, log, version: VERSION }, ws, opts.extraRoutes);

  const rtmpPort = await rtmp.listen();
  await http.listen({ port: config.http.port, host: config.http.host });
  const address = http.server.address();
  const httpPort = typeof address === 'object' && address ? address.port : config.http.port;

  let stopped = false;
  return {
    config,
    store,
    registry,
    gate,
    enforcer,
    http,
    rtmpPort,
    httpPort,
    log,
    async stop() {
      if (stopped) return;
      stopped = true;
      enforcer.stop();
      await Promise.allSettled(
        registry.list().map((s) => registry.cut(s.id, { reason: 'gateway_shutdown', message: 'the gateway is shutting down', actor: 'system' })),
      );
      await ws.close();
      await rtmp.close();
      await http.close();
      await store.close();
    },
  };
}
