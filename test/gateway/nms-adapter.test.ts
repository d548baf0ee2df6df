import { describe, expect, it } from 'vitest';
import { assertNmsCompatible, checkNms, loadNms, NMS_PINNED_VERSION, NmsIncompatibleError, type NmsModules } from '../../gateway/ingest/nms-adapter.ts';

/**
 * The start-up self-check of the node-media-server adapter: every overridden member of the installed
 * release exists with the expected kind and the relay contract holds; a doctored release is refused with
 * `nms_incompatible`, naming what is missing.
 */

function incompatibility(nms: NmsModules): NmsIncompatibleError {
  try {
    assertNmsCompatible(nms);
  } catch (err) {
    if (err instanceof NmsIncompatibleError) return err;
    throw err;
  }
  throw new Error('the doctored release was accepted');
}

describe('node-media-server adapter self-check', () => {
  it('the installed node-media-server is the pinned release and passes', () => {
    const nms = loadNms();
    expect(nms.version).toBe(NMS_PINNED_VERSION);
    expect(checkNms(nms)).toEqual([]);
    expect(() => assertNmsCompatible(nms)).not.toThrow();
  });

  it('a parser prototype without an overridden method is refused with nms_incompatible, naming the method', () => {
    const real = loadNms();
    class Rtmp extends (real.Rtmp as unknown as new () => object) {}
    Object.defineProperty(Rtmp.prototype, 'packetAlloc', { value: undefined });
    const err = incompatibility({ ...real, Rtmp });
    expect(err.code).toBe('nms_incompatible');
    expect(err.problems).toContain('protocol/rtmp.js: Rtmp.prototype.packetAlloc is not a function');
    expect(err.message).toContain(NMS_PINNED_VERSION);
  });

  it('a session class whose instances lack a handler the ingest wraps is refused', () => {
    const real = loadNms();
    class RtmpSession extends real.RtmpSession {
      constructor(socket: ConstructorParameters<NmsModules['RtmpSession']>[0]) {
        super(socket);
        delete (this as unknown as Record<string, unknown>).onPush;
      }
    }
    const err = incompatibility({ ...real, RtmpSession });
    expect(err.problems).toEqual(['session/rtmp_session.js: session.onPush is not a function']);
  });

  it("a broadcast whose postPlay no longer sends the GOP cache (the relay's contract) is refused", () => {
    const real = loadNms();
    class BroadcastServer extends real.BroadcastServer {
      constructor(path: string) {
        super(path);
        const self = this as unknown as { postPlay(s: { id: string; sendBuffer(b: Buffer): void }): null; subscribers: Map<string, unknown> };
        self.postPlay = (s) => {
          self.subscribers.set(s.id, s);
          return null;
        };
      }
    }
    const err = incompatibility({ ...real, BroadcastServer });
    expect(err.problems.some((p) => p.startsWith('server/broadcast_server.js: postPlay sent []'))).toBe(true);
  });

  it('a release with a different version but the same shape passes, with a warning', () => {
    const warnings: string[] = [];
    assertNmsCompatible({ ...loadNms(), version: '4.9.0' }, (m) => warnings.push(m));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('4.9.0');
  });
});
