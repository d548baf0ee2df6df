import { describe, expect, it } from 'vitest';
import type { Frame } from '../../../classifiers/frame.ts';
import { FrameFanOut, Listeners } from '../../../gateway/sampler/fan-out.ts';
import { settle } from './fake-timers.ts';

const frame = (seq: number): Frame => ({ streamId: 's', seq, mediaTimeMs: seq * 500, receivedAt: seq, width: 16, height: 16, rgb: Buffer.alloc(16 * 16 * 3) });

function deferred() {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('FrameFanOut: every consumer gets each frame, a slow one misses frames instead of queueing them', () => {
  it('a consumer with maxInFlight frames unsettled misses the next ones; the fast consumer misses none', async () => {
    const f = new FrameFanOut(2);
    const slow: number[] = [];
    const fast: number[] = [];
    const waits: Array<ReturnType<typeof deferred>> = [];
    f.add((fr) => {
      slow.push(fr.seq);
      const d = deferred();
      waits.push(d);
      return d.promise;
    });
    f.add((fr) => {
      fast.push(fr.seq);
    });
    for (let i = 0; i < 5; i++) f.deliver(frame(i));
    expect(slow).toEqual([0, 1]);
    expect(fast).toEqual([0, 1, 2, 3, 4]);
    expect(f.dropped).toBe(3);
    waits[0]!.resolve();
    await settle();
    f.deliver(frame(5));
    expect(slow).toEqual([0, 1, 5]);
  });

  it('a consumer that throws or rejects is counted and does not stop delivery to the others', async () => {
    const f = new FrameFanOut(1);
    const got: number[] = [];
    f.add(() => {
      throw new Error('sync');
    });
    f.add(() => Promise.reject(new Error('async')));
    f.add((fr) => {
      got.push(fr.seq);
    });
    f.deliver(frame(0));
    await settle();
    f.deliver(frame(1));
    await settle();
    expect(got).toEqual([0, 1]);
    // 2 sync throws + 2 rejections; a rejected frame frees its slot (frame 1 was delivered, not dropped).
    expect(f.consumerErrors).toBe(4);
    expect(f.dropped).toBe(0);
  });

  it('unsubscribing stops delivery', () => {
    const f = new FrameFanOut();
    const got: number[] = [];
    const off = f.add((fr) => {
      got.push(fr.seq);
    });
    f.deliver(frame(0));
    off();
    f.deliver(frame(1));
    expect(got).toEqual([0]);
    expect(f.size).toBe(0);
  });

  it('Listeners: a failing listener is counted and the others still hear the event', () => {
    const l = new Listeners<[string]>();
    const heard: string[] = [];
    l.add(() => {
      throw new Error('boom');
    });
    const off = l.add((s) => heard.push(s));
    l.emit('a');
    off();
    l.emit('b');
    expect(heard).toEqual(['a']);
    expect(l.errors).toBe(2);
  });
});
