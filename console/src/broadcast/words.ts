/**
 * What the streamer reads when the gateway refuses or ends a browser stream: plain words chosen from the
 * close code and the `ended` message's reason code. The server's free text is not shown as such, because
 * for a policy cut it is the moderators' explanation (rule internals such as match distances, which would
 * teach an evader how close they came); only the suspension's end is taken from it.
 */
export interface EndExplanation {
  title: string;
  body: string;
  /** When live streaming is suspended: its end (ISO), or 'permanent'; null when not known from the message. */
  suspendedUntil: string | 'permanent' | null;
  suspended: boolean;
  /** The page should offer to look up the decision and an appeal (needs the streamer token). */
  appealable: boolean;
  /** The streamer can simply try again. */
  retry: boolean;
}

export interface EndFacts {
  code: number;
  /** The close frame's reason text (may be cut to 123 bytes). */
  closeReason: string;
  /** From the `ended` message, when one arrived. */
  endedReason: string | null;
  endedMessage: string | null;
}

/** "live streaming is suspended until 2026-12-31T21:26:49.741Z: …" → the ISO time; "… permanently" → 'permanent'. */
export function suspensionEnd(text: string | null): string | 'permanent' | null {
  if (!text) return null;
  if (/suspended permanently/.test(text)) return 'permanent';
  const m = /suspended until (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)/.exec(text);
  return m ? m[1]! : null;
}

export function explainEnd(f: EndFacts): EndExplanation {
  const reason = f.endedReason;
  const until = suspensionEnd(f.endedMessage) ?? suspensionEnd(f.closeReason);
  const base = { suspendedUntil: null, suspended: false, appealable: false, retry: false };
  if (f.code === 4009 || reason === 'suspended') {
    return {
      ...base,
      title: reason === 'suspended' ? 'Your stream was stopped' : 'You cannot go live right now',
      body:
        reason === 'suspended'
          ? 'The stream broke the platform’s rules, and live streaming is suspended for your account. A moderator reviews every such decision.'
          : 'Live streaming is suspended for your account.',
      suspended: true,
      suspendedUntil: until,
      appealable: true,
    };
  }
  if (f.code === 4008 || reason === 'cut') {
    return {
      ...base,
      title: 'Your stream was stopped',
      body: 'A moderator or a rule ended this stream. You may go live again unless you are told otherwise; repeated violations lead to a suspension.',
      appealable: true,
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
