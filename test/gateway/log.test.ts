import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { issueToken } from '../../gateway/admin/tokens.ts';
import { createLogger, streamLogger } from '../../gateway/log.ts';
import { startGateway } from '../../gateway/server.ts';
import { testConfig, waitFor } from '../helpers/gateway.ts';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('gateway logs', () => {
  it('a stream-scoped line carries the node id, the stream id and the account handle', () => {
    const out = capture();
    const log = createLogger('info', { node: 'node_a1', destination: out.stream });
    streamLogger(log, { id: 'str_1', handle: 'alice', protocol: 'rtmp' }).info({ reason: 'cut' }, 'stream ended');
    log.info('gateway line');
    const [streamLine, plain] = out.lines();
    expect(streamLine).toMatchObject({ node: 'node_a1', stream: 'str_1', account: 'alice', protocol: 'rtmp', reason: 'cut', msg: 'stream ended' });
    expect(plain).toMatchObject({ node: 'node_a1', msg: 'gateway line' });
  });

  it('stream keys, tokens and authorization headers never reach a line', () => {
    const out = capture();
    const log = createLogger('info', { node: 'node_a1', destination: out.stream });
    const key = 'sk_live_SECRET_KEY_1234';
    const token = 'mgt_SECRET_TOKEN_5678';
    log.info(
      { streamKey: key, token, req: { headers: { authorization: `Bearer ${token}` } }, publish: { key, streamKey: key }, account: { accessToken: token } },
      'a line with secrets',
    );
    streamLogger(log, { id: 'str_2', handle: 'bob', protocol: 'websocket' }).info({ key }, 'stream line with a key');
    const text = out
      .lines()
      .map((l) => JSON.stringify(l))
      .join('\n');
    expect(text).not.toContain(key);
    expect(text).not.toContain(token);
    const [first, second] = out.lines();
    expect(first).toMatchObject({
      streamKey: '[redacted]',
      token: '[redacted]',
      req: { headers: { authorization: '[redacted]' } },
      publish: { key: '[redacted]' },
    });
    expect(second).toMatchObject({ key: '[redacted]', stream: 'str_2', account: 'bob' });
  });

  it('writes JSON when told to, even on a terminal', () => {
    const out = capture();
    const log = createLogger('info', { format: 'json', destination: out.stream });
    log.info('plain');
    expect(out.lines()[0]).toMatchObject({ msg: 'plain', level: 30 });
  });

  it('a change made with an admin token is one log line with the actor, the route pattern and the outcome, and the node id', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'modgate-log-'));
    const out = capture();
    const gw = await startGateway(testConfig(dir), { log: createLogger('info', { destination: out.stream }) });
    try {
      const { token } = await issueToken(gw.store.db, 'test', 'ops', 'operator');
      const res = await fetch(`http://127.0.0.1:${gw.httpPort}/api/v1/accounts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ handle: 'carol', verified: true }),
      });
      expect(res.status).toBe(201);
      // The line is written once the response has gone out (fastify onResponse): wait for it.
      await waitFor(() => out.lines().some((l) => l['msg'] === 'admin action'), undefined, 'the admin action line');
      const admin = out.lines().filter((l) => l['msg'] === 'admin action');
      expect(admin).toHaveLength(1);
      expect(admin[0]).toMatchObject({ node: gw.registry.nodeId, actor: 'token:ops', method: 'POST', route: '/api/v1/accounts', status: 201 });
      expect(
        out
          .lines()
          .map((l) => JSON.stringify(l))
          .join('\n'),
      ).not.toContain(token);
    } finally {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
