import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, streamLogger } from '../../gateway/log.ts';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
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
    log.info({ streamKey: key, token, req: { headers: { authorization: `Bearer ${token}` } }, publish: { key, streamKey: key }, account: { accessToken: token } }, 'a line with secrets');
    streamLogger(log, { id: 'str_2', handle: 'bob', protocol: 'websocket' }).info({ key }, 'stream line with a key');
    const text = out.lines().map((l) => JSON.stringify(l)).join('\n');
    expect(text).not.toContain(key);
    expect(text).not.toContain(token);
    const [first, second] = out.lines();
    expect(first).toMatchObject({ streamKey: '[redacted]', token: '[redacted]', req: { headers: { authorization: '[redacted]' } }, publish: { key: '[redacted]' } });
    expect(second).toMatchObject({ key: '[redacted]', stream: 'str_2', account: 'bob' });
  });

  it('writes JSON when told to, even on a terminal', () => {
    const out = capture();
    const log = createLogger('info', { format: 'json', destination: out.stream });
    log.info('plain');
    expect(out.lines()[0]).toMatchObject({ msg: 'plain', level: 30 });
  });
});
