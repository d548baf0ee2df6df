import { z } from 'zod';
import type { LiveStream } from '../../live/registry.ts';
import { IsoTime } from '../schemas.ts';

/** A live stream as moderators see it. */
export const StreamView = z
  .object({
    id: z.string().describe('str_…'),
    account: z.string().describe("The account's handle"),
    protocol: z.enum(['rtmp', 'websocket', 'rtsp', 'srt', 'webrtc']),
    server: z.string().nullable().describe('The upstream media server it was published to (gateway/hooks/); null: modgate\'s own ingest'),
    startedAt: IsoTime,
    playPath: z.string().nullable().describe('RTMP play path of the relayed feed'),
  })
  .meta({ id: 'LiveStream' });

export function streamView(s: LiveStream): z.infer<typeof StreamView> {
  return {
    id: s.id,
    account: s.handle,
    protocol: s.protocol,
    server: s.server?.name ?? null,
    startedAt: new Date(s.startedAt).toISOString(),
    playPath: s.playPath,
  };
}
