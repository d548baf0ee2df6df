import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { DSA_COUNTRY_CODES, StatementSpecSchema } from '../policy/dsa.ts';
import { formatZodIssues } from './validation.ts';

/**
 * An upstream media server whose publish hook points at modgate (gateway/hooks/): modgate gates its
 * publishes, pulls accepted streams from it for sampling and drops them through its control API.
 */
/** An IPv4/IPv6 address, optionally with a prefix length (CIDR). */
function isAddressOrCidr(entry: string): boolean {
  const [addr = '', bits, extra] = entry.split('/');
  const v6 = net.isIPv6(addr);
  if (extra !== undefined || !(v6 || net.isIPv4(addr))) return false;
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (v6 ? 128 : 32));
}

export const MediaServerSchema = z
  .object({
    /** Named in the stream list, the audit log and the metrics. */
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lower-case letters, digits, - and _'),
    kind: z.enum(['nginx-rtmp', 'mediamtx', 'srs', 'ome']),
    /**
     * The shared secret: nginx-rtmp, MediaMTX and SRS put it in the hook URL's query (`?secret=…`);
     * OvenMediaEngine signs with it (its AdmissionWebhooks SecretKey, HMAC-SHA1).
     */
    secret: z.string().min(16),
    /** Source addresses (IPs or CIDRs) the server's hook requests may come from. */
    allow: z.array(z.string().refine(isAddressOrCidr, 'an IP address or CIDR (10.0.0.0/8)')).min(1).default(['127.0.0.1/32', '::1/128']),
    /**
     * Control API base URL: nginx-rtmp's `rtmp_control` location (http://host:port/control), MediaMTX's
     * API (http://host:9997), SRS's HTTP API (http://host:1985), OME's REST API (http://host:8081).
     */
    control: z.string().url(),
    /** Control API credentials (HTTP basic; OME: its AccessToken as `user` with no password). */
    credentials: z
      .object({ user: z.string().min(1), password: z.string().default('') })
      .strict()
      .optional(),
    /**
     * Where modgate reads an accepted stream for sampling. Placeholders: {app}, {name} (the public name:
     * never the stream key), {path} (MediaMTX), {vhost} (SRS). E.g. rtmp://127.0.0.1:1935/{app}/{name}.
     */
    pull: z.string().min(1),
    /** nginx-rtmp: the public name a published stream is renamed to (its play and HLS name), never the key. */
    publishName: z.enum(['stream_id', 'handle']).default('stream_id'),
    /** How long one control call may take before it counts as failed (the periodic re-check is the backstop). */
    controlTimeoutMs: z.number().int().min(100).max(60_000).default(2_000),
    /**
     * OME: the `lifetime` of an admission. OME ends the publish when it expires (rtmp_stream.cpp) and the
     * encoder's reconnect is admitted again: a bound on how long a lost cut can last, at the price of a
     * reconnect every this-many seconds. 0: no lifetime (cuts rely on the REST API and the reconciler).
     */
    recheckSeconds: z.number().int().min(0).max(86_400).default(3_600),
    /** SRS / OME: the virtual host control calls name (OME's REST API: /v1/vhosts/{vhost}/…). */
    vhost: z.string().min(1).default('default'),
  })
  .strict();

export type MediaServerConfig = z.infer<typeof MediaServerSchema>;

/**
 * Gateway configuration. One zod schema is the single source of truth: defaults live here, a config file
 * (JSON or YAML) overrides them, MODGATE_* environment variables override the file, CLI flags override all.
 */
export const ConfigSchema = z
  .object({
    dataDir: z.string().min(1).default('./data'),
    /** Database URL: `sqlite:PATH` (default: `<dataDir>/modgate.sqlite`) or `postgres://…`. */
    db: z.string().min(1).optional(),
    rtmp: z
      .object({
        host: z.string().default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(1935),
        /** A connection that sends nothing for this long is closed (node-media-server has no timeout). */
        idleTimeoutMs: z.number().int().min(1000).default(15_000),
        /** Time allowed from TCP connect to an authorized publish or play. */
        handshakeTimeoutMs: z.number().int().min(500).default(10_000),
        maxConnections: z.number().int().min(1).default(1000),
      })
      .strict()
      .default({ host: '0.0.0.0', port: 1935, idleTimeoutMs: 15_000, handshakeTimeoutMs: 10_000, maxConnections: 1000 }),
    http: z
      .object({
        host: z.string().default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(8080),
        /** Externally visible base URL, for links printed to users. Defaults to http://localhost:PORT. */
        publicUrl: z.string().url().optional(),
        /** Check every API response against its route's schema and answer 500 on a mismatch (tests turn this on). */
        checkResponses: z.boolean().default(false),
        /** A request's headers (a WebSocket upgrade's included) must arrive within this time, or the socket is closed (a slow client holds nothing longer). */
        headersTimeoutMs: z.number().int().min(500).max(120_000).default(10_000),
        /** A whole request (headers and body) must arrive within this time; long responses (event stream, live FLV) are not limited. */
        requestTimeoutMs: z.number().int().min(1_000).max(600_000).default(30_000),
        /** Open connections on the API port at most (the rest are refused at accept). */
        maxConnections: z.number().int().min(10).max(1_000_000).default(10_000),
      })
      .strict()
      .default({ host: '0.0.0.0', port: 8080, checkResponses: false, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, maxConnections: 10_000 }),
    ingest: z
      .object({
        ws: z
          .object({
            maxMessageBytes: z
              .number()
              .int()
              .min(1024)
              .default(4 * 1024 * 1024),
            /** Close a connection that has not authenticated within this time. */
            authTimeoutMs: z.number().int().min(100).default(5_000),
            /** Close an authenticated connection that sends no media for this long. */
            idleTimeoutMs: z.number().int().min(500).default(10_000),
          })
          .strict()
          .default({ maxMessageBytes: 4 * 1024 * 1024, authTimeoutMs: 5_000, idleTimeoutMs: 10_000 }),
      })
      .strict()
      .default({ ws: { maxMessageBytes: 4 * 1024 * 1024, authTimeoutMs: 5_000, idleTimeoutMs: 10_000 } }),
    identity: z
      .object({
        /** Shared secret of the identity-verification provider's webhook (HMAC-SHA256). Unset: webhook off. */
        webhookSecret: z.string().min(16).optional(),
        /** Events older (or further in the future) than this are refused as stale. */
        webhookToleranceSeconds: z.number().int().min(1).max(3600).default(300),
      })
      .strict()
      .default({ webhookToleranceSeconds: 300 }),
    /** Who may host a live stream beyond a verified identity (gateway/identity/gate.ts). */
    eligibility: z
      .object({
        /** Minimum age to go live, checked against the identity provider's age-assurance claim (TikTok LIVE: 18). */
        minimumAge: z.number().int().min(0).max(130).default(18),
        /** Refuse verified accounts without any age claim (`age_unverified`); off, so operator-verified accounts still go live. */
        requireAgeAssurance: z.boolean().default(false),
      })
      .strict()
      .default({ minimumAge: 18, requireAgeAssurance: false }),
    /**
     * Limits on unauthenticated callers, per source address (README, "Abuse limits"). Every WebSocket ingest
     * connection and every RTMP connection spends a token of its source's bucket; an accepted publish or play
     * gives it back, so only refused attempts use the bucket up. An empty bucket: the attempt is refused as
     * `rate_limited` (WebSocket close 4029; RTMP NetConnection.Connect.Rejected with `rate_limited: …`).
     */
    abuse: z
      .object({
        wsAuth: z
          .object({ burst: z.number().int().min(1).max(100_000).default(100), perSecond: z.number().min(0.001).max(10_000).default(2) })
          .strict()
          .default({ burst: 100, perSecond: 2 }),
        rtmpConnect: z
          .object({ burst: z.number().int().min(1).max(100_000).default(100), perSecond: z.number().min(0.001).max(10_000).default(5) })
          .strict()
          .default({ burst: 100, perSecond: 5 }),
        /** Refusals of callers with no account (webhook, ingest) are audited per source and reason per window: one row at once, one with the count at its end. */
        auditWindowMs: z.number().int().min(1_000).max(3_600_000).default(60_000),
        /** Past this many refusals of one reason in a window a source is no longer answered in full: the webhook answers 429, the ingests close its connections unanswered. */
        maxRefusalsPerWindow: z.number().int().min(1).max(1_000_000).default(100),
        /** Sources tracked at once (bounded memory under a flood from many addresses). */
        maxSources: z.number().int().min(100).max(10_000_000).default(10_000),
      })
      .strict()
      .default({
        wsAuth: { burst: 100, perSecond: 2 },
        rtmpConnect: { burst: 100, perSecond: 5 },
        auditWindowMs: 60_000,
        maxRefusalsPerWindow: 100,
        maxSources: 10_000,
      }),
    /**
     * SIGTERM (README, "Stopping a node"): `/readyz` answers 503 `shutting_down` and new publishes are refused
     * (`shutting_down`) at once; live streams go on for `drainMs` (give a load balancer time to stop sending
     * publishers here), then in-flight decisions finish, publishers are told `gateway_shutdown` (RTMP onStatus,
     * WebSocket close 1001) and the process exits. Whatever is stuck, it exits `timeoutMs` after the signal
     * (exit code 1, the stuck step logged); a second signal exits at once.
     */
    shutdown: z
      .object({
        drainMs: z.number().int().min(0).max(600_000).default(0),
        timeoutMs: z.number().int().min(1_000).max(3_600_000).default(15_000),
      })
      .strict()
      .refine((s) => s.timeoutMs > s.drainMs, 'timeoutMs must be longer than drainMs')
      .default({ drainMs: 0, timeoutMs: 15_000 }),
    /** How often the gateway looks for changes other processes (CLI, other nodes) made to accounts. */
    syncIntervalMs: z.number().int().min(50).max(60_000).default(500),
    /** Several nodes on one PostgreSQL database (README, "Several nodes on PostgreSQL"). */
    nodes: z
      .object({
        /** PostgreSQL: LISTEN for changes other nodes announce (off behind a transaction-pooling proxy such as pgbouncer, where LISTEN cannot work: the feeds are then polled every syncIntervalMs). */
        listen: z.boolean().default(true),
        /** With push (LISTEN/NOTIFY) connected, the feeds are still read this often in case a notification was lost; without it, every syncIntervalMs. */
        reconcileIntervalMs: z.number().int().min(100).max(600_000).default(5_000),
        /** How often a node records that it is alive. */
        heartbeatIntervalMs: z.number().int().min(100).max(60_000).default(2_000),
        /** A node silent for this long is lost: another node closes its streams as node_lost. */
        lostAfterMs: z.number().int().min(500).max(600_000).default(10_000),
      })
      .strict()
      .default({ listen: true, reconcileIntervalMs: 5_000, heartbeatIntervalMs: 2_000, lostAfterMs: 10_000 }),
    /** Hash exchanges (README, "Hash exchanges"): fetching from those configured (`modgate exchange add`). */
    exchanges: z
      .object({
        /** Fetch from the configured exchanges (off: they are kept but not fetched). */
        enabled: z.boolean().default(true),
        /** How often the schedule is read for due fetches (ms). */
        pollMs: z.number().int().min(100).max(600_000).default(5_000),
        /**
         * What a partner's deconfirmation (negative_class opinion) of an entry we served does here: `quarantine`
         * it (its matches cut nothing until a moderator clears or removes it) or only `record` it for moderators.
         */
        partnerOpinions: z.enum(['quarantine', 'record']).default('quarantine'),
        /**
         * Our opinions to the exchange that fed an entry wait in an outbox until it takes them: the first retry
         * after a failed attempt (down, 5xx, timeout), doubling per failure up to opinionMaxBackoffMs.
         */
        opinionRetryBaseMs: z.number().int().min(50).max(3_600_000).default(5_000),
        opinionMaxBackoffMs: z.number().int().min(1_000).max(86_400_000).default(600_000),
      })
      .strict()
      .default({ enabled: true, pollMs: 5_000, partnerOpinions: 'quarantine', opinionRetryBaseMs: 5_000, opinionMaxBackoffMs: 600_000 }),
    /** Crisis mode (gateway/crisis/): incidents, full-rate sampling, the policy overlay, the retroactive scan. */
    crisis: z
      .object({
        /** How far back the retroactive scan looks: each stream's recent frame hashes, kept this long (ended streams too). */
        retroWindowMs: z.number().int().min(10_000).max(3_600_000).default(600_000),
        /** A kept frame within this PDQ distance of a newly banked hash matches (bank radius default). */
        retroMaxDistance: z.number().int().min(0).max(64).default(31),
        /** At most this many hashes kept per stream (a busy stream's window is shorter; classifiers/recent-hashes.ts). */
        retroMaxPerStream: z.number().int().min(10).max(100_000).default(2_400),
        /** A frame this close in time and within 8 bits of the one kept last only extends it. */
        retroMinIntervalMs: z.number().int().min(0).max(60_000).default(500),
        /** How often a node looks for an incident declared or ended elsewhere (CLI, another node). */
        pollMs: z.number().int().min(50).max(60_000).default(1_000),
      })
      .strict()
      .default({ retroWindowMs: 600_000, retroMaxDistance: 31, retroMaxPerStream: 2_400, retroMinIntervalMs: 500, pollMs: 1_000 }),
    /** HMA-compatible routes (gateway/api/hma.ts, hma-hash.ts). */
    hma: z
      .object({
        /**
         * `GET /h/hash?url=…` fetches a picture from a URL, as HMA does. A gateway that fetches any URL it is
         * handed can be pointed at internal services (SSRF), so it fetches none unless the URL starts with one
         * of these prefixes (`https://cdn.example.com/`); empty (the default): the route answers 403
         * url_fetch_disabled and clients upload the picture instead (`POST /h/hash`).
         */
        hashUrlAllowlist: z.array(z.string().url().max(2000)).max(100).default([]),
        /** A fetch or upload larger than this is refused (413 too_large). */
        hashMaxBytes: z
          .number()
          .int()
          .min(1024)
          .max(256 * 2 ** 20)
          .default(32 * 2 ** 20),
        /** How long one URL fetch may take. */
        hashFetchTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
      })
      .strict()
      .default({ hashUrlAllowlist: [], hashMaxBytes: 32 * 2 ** 20, hashFetchTimeoutMs: 10_000 }),
    /**
     * Flood guard: an entry matching far more distinct live streams than its baseline within `windowMs` (at
     * least `streams`, and `baselineFactor` times its usual count) is quarantined at once — its matches are
     * logged but cut nothing — and queued for a moderator (GET /api/v1/entry-quarantines). Counted per node.
     */
    floodGuard: z
      .object({
        enabled: z.boolean().default(true),
        windowMs: z.number().int().min(1_000).max(86_400_000).default(60_000),
        streams: z.number().int().min(2).max(1_000_000).default(50),
        baselineFactor: z.number().min(1).max(1_000).default(10),
      })
      .strict()
      .default({ enabled: true, windowMs: 60_000, streams: 50, baselineFactor: 10 }),
    /** Live streams one account may have at once, on all nodes together; a further publish is refused as already_live. */
    maxLiveStreamsPerAccount: z.number().int().min(1).max(100).default(1),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** `json` always; `pretty` always; unset: human-readable on a terminal, JSON otherwise. */
        format: z.enum(['json', 'pretty']).optional(),
      })
      .strict()
      .default({ level: 'info' }),
    /** Frame sampling of every live stream (gateway/sampler). */
    sampling: z
      .object({
        enabled: z.boolean().default(true),
        /**
         * Frames per second delivered to hash matching (every decoded frame up to this rate); ONNX models see
         * `classifiers.modelFps` of them. PDQ is ~0.7 ms a frame, so a banked picture is caught a frame or two
         * after it appears.
         */
        fps: z.number().min(0.1).max(30).default(10),
        width: z.number().int().min(64).max(1920).default(512),
        height: z.number().int().min(64).max(1080).default(288),
        /**
         * `full`: every frame decoded (steady rate); `keyframe`: keyframes only (cheap, ~0.5 fps at a 2 s GOP);
         * `adaptive`: keyframes only, escalated to full rate while a stream's signals come near a threshold
         * (gateway/pipeline/adaptive.ts).
         */
        mode: z.enum(['full', 'keyframe', 'adaptive']).default('full'),
        /** Adaptive mode thresholds. */
        adaptive: z
          .object({
            /** A classifier score at or above this escalates the stream to full rate. */
            escalateAt: z.number().min(0).max(1).default(0.3),
            /** A hash match at this PDQ distance or closer escalates it. */
            nearDistance: z.number().int().min(0).max(256).default(48),
            /** Back to keyframes after this long without such a signal. */
            calmForMs: z.number().int().min(0).default(30_000),
            /** Full rate for the first this-many ms of every stream (0: off). */
            warmupMs: z.number().int().min(0).default(0),
            /** At most this many streams at full rate at once (absent: no limit). */
            maxEscalated: z.number().int().min(0).optional(),
            /** Keyframes further apart than this: the stream is watched at full rate for good. */
            maxKeyframeIntervalMs: z.number().int().min(500).default(4_000),
          })
          .strict()
          .default({ escalateAt: 0.3, nearDistance: 48, calmForMs: 30_000, warmupMs: 0, maxKeyframeIntervalMs: 4_000 }),
        stallAfterMs: z.number().int().min(500).default(5000),
        /**
         * ffmpeg processes of the shared keyframe decoder, which watches every RTMP H.264 stream in
         * `keyframe` mode and every calm one in `adaptive` mode (gateway/sampler/keyframe-decoder.ts).
         */
        keyframeDecoders: z.number().int().min(1).max(16).default(2),
        /**
         * What a full-rate sampler's ffmpeg emits: `yuv420p` (full range; hashing reads the luma plane and RGB is
         * made only for the frames the models see, classifiers/yuv-frame.ts) or `rgb24` (every frame converted
         * by ffmpeg: twice the pipe bytes; the measured baseline).
         */
        // rgb24 by default: yuv420p did not show a win end to end on 2 cores (BENCHMARKS.md, 2 Dec 17:51 UTC).
        pixels: z.enum(['yuv420p', 'rgb24']).default('rgb24'),
        /**
         * Load shedding (gateway/sampler/shedding.ts): a full-rate stream whose decoder falls more than `maxLagMs`
         * of media behind live is restarted at the live edge (its queued input dropped) and hashed at the model
         * rate (`classifiers.modelFps`) until it has kept up for `recoverAfterMs`; late frames are not queued.
         */
        shed: z
          .object({
            // Off by default: measured on 2 cores (BENCHMARKS.md, 2 Dec 17:38 UTC) it made saturation worse, since
            // the bottleneck there is the gateway's main thread, which restarting decoders does not relieve.
            enabled: z.boolean().default(false),
            maxLagMs: z.number().int().min(500).default(2_500),
            recoverAfterMs: z.number().int().min(1_000).default(20_000),
          })
          .strict()
          .default({ enabled: false, maxLagMs: 2_500, recoverAfterMs: 20_000 }),
      })
      .strict()
      .default({
        enabled: true,
        fps: 10,
        width: 512,
        height: 288,
        mode: 'full',
        adaptive: { escalateAt: 0.3, nearDistance: 48, calmForMs: 30_000, warmupMs: 0, maxKeyframeIntervalMs: 4_000 },
        stallAfterMs: 5000,
        keyframeDecoders: 2,
        pixels: 'rgb24',
        shed: { enabled: false, maxLagMs: 2_500, recoverAfterMs: 20_000 },
      }),
    classifiers: z
      .object({
        hashMatch: z
          .object({
            enabled: z.boolean().default(true),
            dihedral: z.boolean().default(true),
            minQuality: z.number().int().min(0).max(100).default(50),
            /**
             * Region-aware matching (classifiers/regions.ts): hash overlapping tiles of each frame (`tiles`) and the
             * inside of a picture-in-picture found by its edges (`inner`), besides the whole frame and the frame
             * inside uniform borders. Cost per frame: `npm run bench -- evasion`.
             */
            regions: z
              .object({ tiles: z.boolean().default(true), inner: z.boolean().default(true) })
              .strict()
              .default({ tiles: true, inner: true }),
            /** Tiles and the inner rectangle on at most this many frames per second of a stream; the whole and trimmed frame on every sampled frame. */
            regionsFps: z.number().min(0.1).max(60).default(2),
          })
          .strict()
          .default({ enabled: true, dihedral: true, minQuality: 50, regions: { tiles: true, inner: true }, regionsFps: 2 }),
        /**
         * Banked videos (vPDQ entries, classifiers/vpdq) matched by a stream's recent frames: within the last
         * `windowMs` of media time, at least `matchPercent` of the distinct frame hashes of quality >= 50 each
         * within distance 31 of some frame of the video (vPDQ's thresholds), and at least `minFrames` frames
         * covering at least `minScenes` scenes of the video (a held intro card or logo is one scene and must
         * not match by itself).
         * Rides on hash matching (the same whole-frame hash; off when hash matching is off).
         */
        videoMatch: z
          .object({
            enabled: z.boolean().default(true),
            windowMs: z.number().int().min(1_000).max(120_000).default(10_000),
            minFrames: z.number().int().min(1).max(100).default(3),
            minScenes: z.number().int().min(1).max(100).default(3),
            matchPercent: z.number().min(1).max(100).default(80),
            maxEntriesPerFrame: z.number().int().min(1).max(1_000).default(32),
          })
          .strict()
          .default({ enabled: true, windowMs: 10_000, minFrames: 3, minScenes: 3, matchPercent: 80, maxEntriesPerFrame: 32 }),
        /**
         * ONNX models see at most this many frames per second of a stream, whatever the sampling rate: the sampler
         * delivers frames at `sampling.fps` for hash matching (PDQ is cheap; time to cut is a frame or two), the
         * models keep their own rate (classifiers/rate-limited.ts).
         */
        modelFps: z.number().min(0.1).max(60).default(2),
        /**
         * Skip inference on unchanged frames (classifiers/reuse-unchanged.ts): reuse a model's last scores while a
         * stream's frame stays within `maxDistance` PDQ bits of the last classified one, for at most `maxAgeMs`.
         */
        reuse: z
          .object({
            enabled: z.boolean().default(true),
            maxDistance: z.number().int().min(0).max(64).default(8),
            maxAgeMs: z.number().int().min(0).default(2_000),
          })
          .strict()
          .default({ enabled: true, maxDistance: 8, maxAgeMs: 2_000 }),
        /**
         * ONNX models (paths to `models/NAME` folders or their manifest.json). Default: the nsfw model built at
         * install time, when present. Put a violence model here (source `violence` in its manifest).
         */
        models: z.array(z.string().min(1)).optional(),
        workers: z.number().int().min(1).max(16).default(1),
        intraOpThreads: z.number().int().min(1).max(16).default(1),
        maxBatch: z.number().int().min(1).max(128).default(8),
        /** ONNX Runtime execution providers, e.g. [cuda, cpu] (needs onnxruntime-node's CUDA binaries; see README). */
        executionProviders: z
          .array(z.enum(['cpu', 'cuda', 'tensorrt', 'dml', 'coreml', 'webgpu']))
          .min(1)
          .default(['cpu']),
        /** Frames with a score at or above this (or any hash match) keep a thumbnail as evidence. */
        evidenceFloor: z.number().min(0).max(1).default(0.5),
        /**
         * The learned copy descriptor (classifiers/copy): the model's pooled embedding, whitened, matched by cosine
         * against `copy` bank entries; signals of source `copy_match` (the policy's thresholds decide). Runs on the
         * models' frames, from the same forward pass as the model whose version the whitening was fit for.
         * `whitening`: the file (default: models/copy/whitening.json in the package).
         */
        copy: z
          .object({
            enabled: z.boolean().default(true),
            whitening: z.string().min(1).optional(),
            /** Matches below this cosine similarity are not reported at all. */
            reportFloor: z.number().min(-1).max(1).default(0.5),
            maxMatches: z.number().int().min(1).max(32).default(4),
            /**
             * Describe, besides the whole frame, the picture inside its uniform borders (`trimmed`) and a
             * picture-in-picture region (`inner`): one more forward pass each, on the model frames that have one.
             */
            views: z
              .object({ trimmed: z.boolean().default(true), inner: z.boolean().default(true) })
              .strict()
              .default({ trimmed: true, inner: true }),
          })
          .strict()
          .default({ enabled: true, reportFloor: 0.5, maxMatches: 4, views: { trimmed: true, inner: true } }),
      })
      .strict()
      .default({
        copy: { enabled: true, reportFloor: 0.5, maxMatches: 4, views: { trimmed: true, inner: true } },
        hashMatch: { enabled: true, dihedral: true, minQuality: 50, regions: { tiles: true, inner: true }, regionsFps: 2 },
        videoMatch: { enabled: true, windowMs: 10_000, minFrames: 3, minScenes: 3, matchPercent: 80, maxEntriesPerFrame: 32 },
        modelFps: 2,
        reuse: { enabled: true, maxDistance: 8, maxAgeMs: 2_000 },
        workers: 1,
        intraOpThreads: 1,
        maxBatch: 8,
        executionProviders: ['cpu'],
        evidenceFloor: 0.5,
      }),
    evidence: z
      .object({
        liveRetentionHours: z.number().min(0).default(24),
        decisionRetentionDays: z.number().min(0).default(365),
      })
      .strict()
      .default({ liveRetentionHours: 24, decisionRetentionDays: 365 }),
    policy: z
      .object({
        /** Policy used until an operator submits one through the API (default: policy/default.yaml). */
        file: z.string().min(1).optional(),
        /** Signals at or above this score (and every match and stall) are stored for backtests. */
        storeSignalsFloor: z.number().min(0).max(1).default(0.3),
      })
      .strict()
      .default({ storeSignalsFloor: 0.3 }),
    /** Existing media servers moderated through their publish hooks (README, "Moderating your media server"). */
    servers: z
      .array(MediaServerSchema)
      .default([])
      .refine((list) => new Set(list.map((s) => s.name)).size === list.length, 'server names must be unique')
      .refine((list) => new Set(list.map((s) => s.secret)).size === list.length, 'each server needs its own secret'),
    /** DSA accountability: statements of reasons and their submission to the Transparency Database. */
    accountability: z
      .object({
        /** Member States where decisions apply (`territorial_scope`); default: every code the database accepts. */
        territorialScope: z.array(z.enum(DSA_COUNTRY_CODES)).default([...DSA_COUNTRY_CODES]),
        /** ISO 639-1 language of the streams' content (`content_language`), when the platform knows it. */
        contentLanguage: z
          .string()
          .regex(/^[A-Z]{2}$/)
          .optional(),
        /** The terms of service relied on (`decision_ground_reference_url`). */
        termsUrl: z.string().url().max(500).optional(),
        /** A live-streaming suspension is reported as an account restriction (`decision_account`) or a partial service restriction (`decision_provision`). */
        suspensionAs: z.enum(['account', 'provision']).default('account'),
        /** Statement specs by bank or strike category, for rules that do not declare their own (policy `statement`). */
        categories: z.record(z.string().min(1), StatementSpecSchema).default({}),
        /** Viewer reports (POST /api/v1/reports): per-source rate limit and the reporter-hash key's lifetime. */
        reports: z
          .object({
            perSourceMax: z.number().int().min(1).default(5),
            windowMs: z.number().int().min(1000).default(600_000),
            hashRotateMs: z.number().int().min(60_000).default(86_400_000),
          })
          .strict()
          .default({ perSourceMax: 5, windowMs: 600_000, hashRotateMs: 86_400_000 }),
        /** A Transparency-Database-compatible endpoint; unset: statements are kept and shown, not submitted. */
        transparencyDb: z
          .object({
            url: z.string().url(),
            /** Bearer token issued by the Transparency Database to the platform. */
            token: z.string().min(1),
            batchSize: z.number().int().min(1).max(100).default(100),
            intervalMs: z.number().int().min(50).default(10_000),
            /** Backoff after a failed call: doubles from this up to maxBackoffMs. */
            backoffMs: z.number().int().min(10).default(5_000),
            maxBackoffMs: z.number().int().min(10).default(600_000),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({
        territorialScope: [...DSA_COUNTRY_CODES],
        suspensionAs: 'account',
        categories: {},
        reports: { perSourceMax: 5, windowMs: 600_000, hashRotateMs: 86_400_000 },
      }),
    /** Create a demo verified account with a stream key on first start (empty database). */
    demo: z.boolean().default(true),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

export class ConfigError extends Error {}

/** Reads and validates a config file; errors name the file and the offending key path. */
export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  try {
    return file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
}

/** MODGATE_* variables that override the file. Numbers are parsed; a bad number is reported by the schema. */
const ENV_KEYS: Record<string, string[]> = {
  MODGATE_DATA_DIR: ['dataDir'],
  MODGATE_DB: ['db'],
  MODGATE_RTMP_PORT: ['rtmp', 'port'],
  MODGATE_RTMP_HOST: ['rtmp', 'host'],
  MODGATE_HTTP_PORT: ['http', 'port'],
  MODGATE_HTTP_HOST: ['http', 'host'],
  MODGATE_PUBLIC_URL: ['http', 'publicUrl'],
  MODGATE_IDENTITY_WEBHOOK_SECRET: ['identity', 'webhookSecret'],
  MODGATE_LOG_LEVEL: ['log', 'level'],
  MODGATE_DEMO: ['demo'],
  MODGATE_MINIMUM_AGE: ['eligibility', 'minimumAge'],
  MODGATE_SAMPLING_ENABLED: ['sampling', 'enabled'],
  MODGATE_SAMPLING_MODE: ['sampling', 'mode'],
  MODGATE_SAMPLING_SHED: ['sampling', 'shed', 'enabled'],
  MODGATE_SAMPLING_PIXELS: ['sampling', 'pixels'],
  MODGATE_POLICY_FILE: ['policy', 'file'],
};

function setPath(target: Record<string, unknown>, keys: string[], value: unknown): void {
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

function coerce(raw: string): unknown {
  if (/^-?\d+$/.test(raw)) return Number(raw);
  if (raw === 'true' || raw === 'false') return raw === 'true';
  return raw;
}

export interface ConfigSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Already-structured overrides from CLI flags, e.g. `{ rtmp: { port: 1936 } }`. */
  overrides?: Array<[string[], unknown]>;
}

export function loadConfig(sources: ConfigSources = {}): Config {
  const base = sources.file ? readConfigFile(sources.file) : {};
  if (typeof base !== 'object' || base === null || Array.isArray(base)) {
    throw new ConfigError(`config file ${sources.file}: expected a mapping of settings at the top level`);
  }
  const merged = structuredClone(base) as Record<string, unknown>;
  const env = sources.env ?? process.env;
  for (const [name, keys] of Object.entries(ENV_KEYS)) {
    const raw = env[name];
    if (raw !== undefined && raw !== '') setPath(merged, keys, coerce(raw));
  }
  for (const [keys, value] of sources.overrides ?? []) {
    if (value !== undefined) setPath(merged, keys, value);
  }
  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const where = sources.file ? `config (${sources.file} + environment + flags)` : 'config (environment + flags)';
    throw new ConfigError(`invalid ${where}:\n${formatZodIssues(parsed.error)}`);
  }
  return parsed.data;
}

export function databaseUrl(config: Config): string {
  return config.db ?? `sqlite:${path.join(config.dataDir, 'modgate.sqlite')}`;
}
