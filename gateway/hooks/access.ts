import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import type { MediaServerConfig } from '../config.ts';

/**
 * Who may call a hook route: the configured server, recognised by its shared secret (or its signature,
 * OME), from one of its allowed source addresses. Both must hold; neither is a substitute for the other.
 */

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** The server of this kind whose secret was presented (compared in constant time, every candidate tried). */
export function serverBySecret(
  servers: readonly MediaServerConfig[],
  kind: MediaServerConfig['kind'],
  presented: string | undefined,
): MediaServerConfig | null {
  if (!presented) return null;
  const p = digest(presented);
  let found: MediaServerConfig | null = null;
  for (const s of servers) {
    if (s.kind !== kind) continue;
    if (timingSafeEqual(digest(s.secret), p) && !found) found = s;
  }
  return found;
}

const lists = new WeakMap<MediaServerConfig, net.BlockList>();

function allowList(server: MediaServerConfig): net.BlockList {
  let list = lists.get(server);
  if (list) return list;
  list = new net.BlockList();
  for (const entry of server.allow) {
    const [addr, bits] = entry.split('/');
    const family = net.isIPv6(addr!) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr!, family);
    else list.addSubnet(addr!, Number(bits), family);
  }
  lists.set(server, list);
  return list;
}

/** Whether a request from `remote` (as the socket reports it: IPv4-mapped IPv6 included) may speak for `server`. */
export function addressAllowed(server: MediaServerConfig, remote: string | undefined): boolean {
  if (!remote) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote);
  const addr = mapped ? mapped[1]! : remote;
  const family = net.isIPv6(addr) ? 'ipv6' : net.isIPv4(addr) ? 'ipv4' : null;
  if (!family) return false;
  return allowList(server).check(addr, family);
}
