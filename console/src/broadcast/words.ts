/**
 * What the streamer reads when the gateway refuses or ends a browser stream: plain words chosen from the
 * close code and the structured `ended` (or `refused`) message the ingest sends before closing
 * (gateway/ingest/ws-protocol.ts, EndedMessage): its reason code, streamer-facing words (the server never
 * puts a rule id, score or distance there), the suspension's end and the decision to appeal. Nothing is
 * parsed out of free text.
 */
export interface EndExplanation {
  title: string;
  body: string;
  /** The server's streamer-facing words for a cut or suspension (e.g. "automated moderation found graphic violence in your stream"). */
  words: string | null;
  /** When live streaming is suspended: its end (ISO), or 'permanent'; null when not known. */
  suspendedUntil: string | 'permanent' | null;
  suspended: boolean;
  /** The page should offer to look up the decision and an appeal (needs the streamer token). */
  appealable: boolean;
  /** The decision to appeal, when the server named one. */
  decisionId: string | null;
  /** The streamer can simply try again. */
  retry: boolean;
}

/** The `ended` / `refused` message's fields, as the ingest sends them. */
export interface EndedFields {
  type: 'ended' | 'refused';
  reason: string | null;
  message: string | null;
  suspension: { endsAt: string | null; permanent: boolean } | null;
  decisionId: string | null;
  appeal: { page: string; endpoint: string; decisionId: string | null } | null;
}

export interface EndFacts {
  code: number;
  /** The close frame's reason text (may be cut to 123 bytes); only its code is used. */
  closeReason: string;
  /** From the `ended` / `refused` message, when one arrived. */
  ended: EndedFields | null;
}

/** Reads an `ended` / `refused` message defensively (fields of the wrong type count as absent). */
export function endedFields(msg: Record<string, unknown>): EndedFields {
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  const s = msg['suspension'];
  const suspension =
    s && typeof s === 'object' && typeof (s as { permanent?: unknown }).permanent === 'boolean'
      ? { endsAt: str((s as { endsAt?: unknown }).endsAt), permanent: (s as { permanent: boolean }).permanent }
      : null;
  const a = msg['appeal'];
  const appeal =
    a && typeof a === 'object' && typeof (a as { page?: unknown }).page === 'string'
      ? {
          page: (a as { page: string }).page,
          endpoint: str((a as { endpoint?: unknown }).endpoint) ?? '',
          decisionId: str((a as { decisionId?: unknown }).decisionId),
        }
      : null;
  return {
    type: msg['type'] === 'refused' ? 'refused' : 'ended',
    reason: str(msg['reason']),
    message: str(msg['message']),
    suspension,
    decisionId: str(msg['decisionId']),
    appeal,
  };
}

function suspensionEnd(s: EndedFields['suspension']): string | 'permanent' | null {
  if (!s) return null;
  return s.permanent ? 'permanent' : s.endsAt;
}

export function explainEnd(f: EndFacts): EndExplanation {
  const reason = f.ended?.reason ?? null;
  const until = suspensionEnd(f.ended?.suspension ?? null);
  const decisionId = f.ended?.appeal?.decisionId ?? f.ended?.decisionId ?? null;
  const base = { suspendedUntil: null, suspended: false, appealable: false, retry: false, words: null, decisionId: null };
  if (f.code === 4009 || reason === 'suspended') {
    return {
      ...base,
      title: f.ended?.type === 'refused' || reason !== 'suspended' ? 'You cannot go live right now' : 'Your stream was stopped',
      body:
        reason === 'suspended' && f.ended?.type !== 'refused'
          ? 'The stream broke the platform’s rules, and live streaming is suspended for your account. A moderator reviews every such decision.'
          : 'Live streaming is suspended for your account.',
      words: f.ended?.message ?? null,
      suspended: true,
      suspendedUntil: until,
      appealable: true,
      decisionId,
    };
  }
  if (f.code === 4008 || reason === 'cut') {
    return {
      ...base,
      title: 'Your stream was stopped',
      body: 'A moderator or a rule ended this stream. You may go live again unless you are told otherwise; repeated violations lead to a suspension.',
      words: f.ended?.message ?? null,
      appealable: true,
      decisionId,
      retry: true,
    };
  }
  if (f.code === 4001)
    return {
      ...base,
      title: 'This stream key does not work',
      body: 'The key is not valid or was revoked. Check that you typed it exactly, or ask for a new one.',
    };
  if (f.code === 4003 || reason === 'identity_revoked' || reason === 'not_verified' || reason === 'key_revoked') {
    return {
      ...base,
      title: 'Your account may not go live',
      body:
        reason === 'key_revoked'
          ? 'The stream key was revoked while you were live. Ask for a new one.'
          : 'Live streaming needs a verified identity, and this account’s verification is missing or was revoked.',
    };
  }
  if (f.code === 4002) {
    return {
      ...base,
      title: 'The gateway could not read the video',
      body: 'Your browser’s recording was not accepted as WebM or MP4. Try another browser; if it keeps happening, tell the platform.',
      retry: true,
    };
  }
  if (f.code === 4000)
    return {
      ...base,
      title: 'The stream stalled',
      body: 'No video reached the gateway for a while, so the stream was ended. Check your connection and go live again.',
      retry: true,
    };
  if (f.code === 4004 || f.code === 4005)
    return { ...base, title: 'Could not start the stream', body: 'The page could not sign in to the gateway in time. Reload and try again.', retry: true };
  if (f.code === 1009) return { ...base, title: 'The video is too large to send', body: 'Lower the quality and go live again.', retry: true };
  if (f.code === 1001 || reason === 'gateway_shutdown')
    return { ...base, title: 'The gateway restarted', body: 'The stream ended because the service is restarting. Go live again in a moment.', retry: true };
  if (f.code === 1000) return { ...base, title: 'Stream ended', body: 'You ended the stream.', retry: true };
  return {
    ...base,
    title: 'The connection was lost',
    body: `The stream ended unexpectedly (code ${f.code}). Check your connection and go live again.`,
    retry: true,
  };
}

/** Strike categories in words a streamer understands. */
export function categoryWords(category: string | null | undefined): string {
  switch (category) {
    case 'violent-extremism':
    case 'terrorist-violent-extremism':
      return 'violent extremist content';
    case 'graphic-violence':
      return 'graphic violence';
    case 'nsfw':
    case 'sexual':
      return 'sexual content';
    default:
      return category ? category.replace(/[-_]/g, ' ') : 'a rule of the platform';
  }
}
