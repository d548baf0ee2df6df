import type { AdminApi } from './endpoints.ts';

/**
 * Decisions name their account by id (acc_…), but accounts are looked up by handle, and today's API has no
 * id → handle lookup (docs/console-api.md, "Account handle on decisions"). The handle is found where the
 * API already says it: a live stream of the account, an appeal, or the audit record of the stream's cut.
 * Cached for the session; null when none of them knows.
 */
const byAccount = new Map<string, string>();
const byStream = new Map<string, string>();
const pending = new Map<string, Promise<string | null>>();

export function rememberHandle(accountId: string, handle: string | null): void {
  if (handle) byAccount.set(accountId, handle);
}

export function knownHandle(accountId: string, streamId?: string): string | null {
  return byAccount.get(accountId) ?? (streamId ? (byStream.get(streamId) ?? null) : null);
}

/** Learns many handles in two requests: the live streams and the latest stream cuts. */
export async function primeHandles(api: AdminApi): Promise<void> {
  const [live, cuts] = await Promise.all([api.streams(), api.audit({ action: 'stream.cut', targetType: 'stream', limit: 1000 })]);
  for (const s of live) byStream.set(s.id, s.account);
  for (const r of cuts.records) if (typeof r.detail?.account === 'string') byStream.set(r.targetId, r.detail.account);
}

export async function resolveHandle(api: AdminApi, accountId: string, streamId: string): Promise<string | null> {
  const hit = knownHandle(accountId, streamId);
  if (hit) return hit;
  let p = pending.get(streamId);
  if (!p) {
    p = (async () => {
      const live = (await api.streams()).find((s) => s.id === streamId);
      if (live) return live.account;
      const { records } = await api.audit({ action: 'stream.cut', targetType: 'stream', targetId: streamId, limit: 1 });
      const account = records[0]?.detail?.account;
      return typeof account === 'string' ? account : null;
    })();
    p.catch(() => pending.delete(streamId));
    pending.set(streamId, p);
  }
  const handle = await p;
  rememberHandle(accountId, handle);
  if (handle) byStream.set(streamId, handle);
  return handle;
}
