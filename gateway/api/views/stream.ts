import { z } from 'zod';
import type { LiveStream } from '../../live/registry.ts';
import type { LiveStatus } from '../../live/status.ts';
import { IsoTime, IsoTimeOrNull } from '../schemas.ts';

export const SamplingModeView = z
  .enum(['full', 'keyframe', 'adaptive-full', 'adaptive-keyframe', 'off', 'remote'])
  .describe('remote: carried (and sampled) by another node; ask that node for its sampling');

export const ScoresView = z.record(z.string(), z.record(z.string(), z.number())).describe('scores[source][label] of the latest sampled frame');

/** A live stream as moderators see it. */
export const StreamView = z
  .object({
    id: z.string().describe('str_…'),
    account: z.string().describe("The account's handle"),
    protocol: z.enum(['rtmp', 'websocket', 'rtsp', 'srt', 'webrtc']),
    server: z.string().nullable().describe("The upstream media server it was published to (gateway/hooks/); null: modgate's own ingest"),
    startedAt: IsoTime,
    playPath: z.string().nullable().describe('RTMP play path of the relayed feed'),
    sampling: z.object({
      mode: SamplingModeView.describe('off when sampling is disabled'),
      lastFrameAt: IsoTimeOrNull,
      framesSampled: z.number().int(),
      shedding: z
        .object({
          fps: z.number().describe('frames per second hashed now: the configured rate, or the model rate while the node sheds load'),
          lagMs: z.number().int().nullable().describe('how far (ms of media) the latest sampled frame was behind the newest media received'),
          skips: z.number().int().describe('times its decoder fell behind live and was restarted at the live edge (stale frames dropped)'),
          raises: z.number().int().describe('times its rate went back up after keeping up'),
        })
        .nullable()
        .describe("load shedding of the stream's own sampler; null where it does not apply (keyframe sampling, WebSocket or pulled streams, shedding off)"),
    }),
    latest: z
      .object({ at: IsoTime, scores: ScoresView, nearestBankDistance: z.number().int().nullable().describe('null: no bank hash within the search radius') })
      .nullable()
      .describe('null before the first sampled frame'),
    watch: z.object({ flv: z.string().nullable().describe('HTTP-FLV URL for a browser player (moderator token in the Authorization header)') }),
    node: z.string().nullable().describe('The gateway node carrying it (null where not stated)'),
  })
  .meta({ id: 'LiveStream' });

export function streamView(s: LiveStream, live: LiveStatus, node: string | null = null): z.infer<typeof StreamView> {
  const latest = live.latest(s.id);
  return {
    id: s.id,
    account: s.handle,
    protocol: s.protocol,
    server: s.server?.name ?? null,
    startedAt: new Date(s.startedAt).toISOString(),
    playPath: s.playPath,
    sampling: {
      mode: live.samplingMode(s.id),
      lastFrameAt: latest ? new Date(latest.at).toISOString() : null,
      framesSampled: latest?.framesSampled ?? 0,
      shedding: live.shedding(s.id),
    },
    latest: latest ? { at: new Date(latest.at).toISOString(), scores: latest.scores, nearestBankDistance: latest.nearestBankDistance } : null,
    watch: { flv: live.flvPath(s) },
    node,
  };
}

/** A live stream another node carries, from its row (the platform's live list; sampling is that node's). */
export function remoteStreamView(r: {
  id: string;
  handle: string;
  protocol: string;
  server: string | null;
  started_at: number;
  node_id: string;
}): z.infer<typeof StreamView> {
  const protocol = StreamView.shape.protocol.safeParse(r.protocol);
  return {
    id: r.id,
    account: r.handle,
    protocol: protocol.success ? protocol.data : 'rtmp',
    server: r.server,
    startedAt: new Date(r.started_at).toISOString(),
    playPath: r.protocol === 'rtmp' && r.server === null ? `/live/${r.id}` : null,
    sampling: { mode: 'remote', lastFrameAt: null, framesSampled: 0, shedding: null },
    latest: null,
    watch: { flv: null },
    node: r.node_id,
  };
}
