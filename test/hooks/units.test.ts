import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MediaServerSchema } from '../../gateway/config.ts';
import { addressAllowed, serverBySecret } from '../../gateway/hooks/access.ts';
import { fillTemplate } from '../../gateway/hooks/adapter.ts';
import { MediaMtxAdapter } from '../../gateway/hooks/mediamtx.ts';
import { NginxRtmpAdapter } from '../../gateway/hooks/nginx-rtmp.ts';
import { OmeAdapter, omeSignatureValid } from '../../gateway/hooks/ome.ts';

const server = (o: Record<string, unknown> = {}) =>
  MediaServerSchema.parse({
    name: 'edge',
    kind: 'nginx-rtmp',
    secret: 'a-secret-of-16-chars',
    control: 'http://127.0.0.1:8088/control',
    pull: 'rtmp://127.0.0.1/{app}/{name}',
    ...o,
  });
const KEY = `sk_${'a'.repeat(32)}`;

describe('who may call a hook', () => {
  it('the secret picks the server of that kind; a wrong, missing or other-kind secret picks none', () => {
    const a = server({ name: 'a', secret: 'secret-a-0123456789' });
    const b = server({ name: 'b', secret: 'secret-b-0123456789' });
    const m = server({ name: 'm', kind: 'mediamtx', secret: 'secret-m-0123456789' });
    expect(serverBySecret([a, b, m], 'nginx-rtmp', 'secret-b-0123456789')?.name).toBe('b');
    expect(serverBySecret([a, b, m], 'nginx-rtmp', 'secret-m-0123456789')).toBeNull();
    expect(serverBySecret([a, b, m], 'nginx-rtmp', 'secret-b-012345678')).toBeNull();
    expect(serverBySecret([a, b, m], 'nginx-rtmp', undefined)).toBeNull();
  });

  it('source addresses: CIDRs, single addresses, IPv4-mapped IPv6; loopback by default', () => {
    const s = server({ allow: ['10.1.0.0/16', '192.0.2.7', '2001:db8::/32'] });
    expect(addressAllowed(s, '10.1.200.3')).toBe(true);
    expect(addressAllowed(s, '::ffff:10.1.0.9')).toBe(true);
    expect(addressAllowed(s, '10.2.0.1')).toBe(false);
    expect(addressAllowed(s, '192.0.2.7')).toBe(true);
    expect(addressAllowed(s, '192.0.2.8')).toBe(false);
    expect(addressAllowed(s, '2001:db8::1')).toBe(true);
    expect(addressAllowed(s, 'not-an-ip')).toBe(false);
    expect(addressAllowed(server(), '127.0.0.1')).toBe(true);
    expect(addressAllowed(server(), '10.0.0.1')).toBe(false);
  });

  it('the config refuses a bad allow entry, duplicate names and a short secret', () => {
    expect(MediaServerSchema.safeParse({ ...server(), allow: ['10.0.0.0/33'] }).success).toBe(false);
    expect(MediaServerSchema.safeParse({ ...server(), allow: ['example.org'] }).success).toBe(false);
    expect(MediaServerSchema.safeParse({ ...server(), secret: 'short' }).success).toBe(false);
  });

  it("OME's signature: HMAC-SHA1 of the exact body, base64url without padding (padding tolerated)", () => {
    const body = '{"client":{"address":"1.2.3.4","port":5},"request":{}}';
    const sig = createHmac('sha1', 'k-0123456789abcdef').update(body).digest('base64url');
    expect(omeSignatureValid('k-0123456789abcdef', body, sig)).toBe(true);
    expect(omeSignatureValid('k-0123456789abcdef', body, `${sig}=`)).toBe(true);
    expect(omeSignatureValid('k-0123456789abcdef', `${body} `, sig)).toBe(false);
    expect(omeSignatureValid('other-secret-000000', body, sig)).toBe(false);
    expect(omeSignatureValid('k-0123456789abcdef', body, undefined)).toBe(false);
  });
});

describe("reading the servers' requests", () => {
  it('nginx-rtmp: the key as the name is renamed; a key in the query leaves the name; viewers are not gated', () => {
    const a = new NginxRtmpAdapter();
    const e1 = a.parse({ call: 'publish', app: 'live', name: KEY, clientid: '7', addr: '10.0.0.1' });
    expect(e1).toMatchObject({ type: 'publish', publish: { ref: '7', key: KEY, names: { app: 'live', name: KEY } } });
    expect(e1.type === 'publish' && e1.publish.names.fixedName).toBeUndefined();
    const e2 = a.parse({ call: 'publish', app: 'live', name: 'alice', clientid: '8', key: KEY });
    expect(e2).toMatchObject({ type: 'publish', publish: { key: KEY, names: { fixedName: 'alice' } } });
    expect(a.parse({ call: 'update_publish', app: 'live', name: KEY, clientid: '7' }).type).toBe('recheck');
    expect(a.parse({ call: 'publish_done', app: 'live', name: KEY, clientid: '7' }).type).toBe('ended');
    expect(a.parse({ call: 'update_play', app: 'live', name: 'str_x', clientid: '9' })).toEqual({ type: 'other', allow: true, what: 'update_play' });
  });

  it('MediaMTX: the key from the password, the token or ?key=; a key as the path is refused', () => {
    const a = new MediaMtxAdapter();
    const s = server({ kind: 'mediamtx' });
    const base = {
      ip: '1.2.3.4',
      user: '',
      password: '',
      token: '',
      action: 'publish',
      path: 'alice',
      protocol: 'rtmp',
      id: '3f1b2c4d-0000-4000-8000-000000000000',
      query: '',
    };
    for (const r of [{ password: KEY }, { token: KEY }, { query: `a=1&key=${KEY}` }]) {
      expect(a.parse({ ...base, ...r }, s)).toMatchObject({ type: 'publish', publish: { key: KEY, protocol: 'rtmp', names: { fixedName: 'alice' } } });
    }
    expect(a.parse({ ...base, path: `live/${KEY}` }, s)).toMatchObject({ type: 'other', allow: false });
    expect(a.parse({ ...base, protocol: 'hls' }, s)).toMatchObject({ type: 'other', allow: false });
  });

  it('OME: new_url renames a key-named stream within the same scheme, host, port and app', () => {
    const a = new OmeAdapter();
    const e = a.parse({
      client: { address: '1.2.3.4', port: 999 },
      request: { direction: 'incoming', protocol: 'rtmp', status: 'opening', url: `rtmp://ome.example:1935/app/${KEY}` },
    });
    expect(e.type).toBe('publish');
    if (e.type !== 'publish') return;
    expect(e.publish.ref).toBe('1.2.3.4:999');
    expect(a.newUrl(e.publish, 'str_abc')).toBe('rtmp://ome.example:1935/app/str_abc');
  });

  it('pull templates are filled with escaped names and unknown placeholders left visible', () => {
    expect(fillTemplate('rtmp://h/{app}/{name}', { app: 'live', name: 'a b' })).toBe('rtmp://h/live/a%20b');
    expect(fillTemplate('rtsp://h/{path}', { path: 'cams/one' })).toBe('rtsp://h/cams/one');
    expect(fillTemplate('rtmp://h/{vhost}/{name}', { name: 'x' })).toBe('rtmp://h/{vhost}/x');
  });
});
