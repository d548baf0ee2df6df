import { describe, expect, it } from 'vitest';
import { parseDurationSeconds } from '../../gateway/duration.ts';
import { DomainError } from '../../gateway/errors.ts';
import { formatDurationMs, parseDuration, parseDurationMs, PERMANENT } from '../../policy/duration.ts';
import { SuspendSpecSchema, DurationSchema } from '../../policy/schema.ts';

describe('one duration syntax (policy/duration.ts)', () => {
  it('reads every unit, to milliseconds', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('45s')).toBe(45_000);
    expect(parseDuration('90m')).toBe(90 * 60_000);
    expect(parseDuration('12h')).toBe(12 * 3_600_000);
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(parseDuration('2w')).toBe(14 * 86_400_000);
  });

  it('reads a bare number, as a number or as text, as seconds', () => {
    expect(parseDuration(3600)).toBe(3_600_000);
    expect(parseDuration('90')).toBe(90_000);
    expect(parseDuration(0.25)).toBe(250);
  });

  it('reads decimals, surrounding blanks and a space before the unit', () => {
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('0.5s')).toBe(500);
    expect(parseDuration('  30 d ')).toBe(30 * 86_400_000);
    expect(parseDuration('1.0004ms'), 'rounded to the millisecond').toBe(1);
  });

  it('reads permanent (or forever, in any case) as its own answer, which has no length in ms', () => {
    expect(parseDuration('permanent')).toBe(PERMANENT);
    expect(parseDuration(' Forever ')).toBe(PERMANENT);
    expect(parseDurationMs('permanent')).toBeNull();
  });

  it('refuses zero, negatives, less than a millisecond and numbers too large to count', () => {
    for (const v of ['0', '0d', '0.0s', '0.4ms', '-5m', -1, 0, Number.NaN, Number.POSITIVE_INFINITY, '1e3s', `${'9'.repeat(20)}w`]) {
      expect(parseDuration(v), String(v)).toBeNull();
    }
  });

  it('refuses garbage: unknown or uppercase units (M is months elsewhere), words, empty text, two values', () => {
    for (const v of ['', ' ', '30 days', '1M', '12H', 'd', '.5h', '5.h', '1h30m', 'soon', 'permanently', '30d!', '0x10s']) {
      expect(parseDuration(v), JSON.stringify(v)).toBeNull();
    }
  });

  it('formats back in the largest whole unit', () => {
    expect(formatDurationMs(30 * 86_400_000)).toBe('30d');
    expect(formatDurationMs(14 * 86_400_000)).toBe('2w');
    expect(formatDurationMs(90 * 60_000)).toBe('90m');
    expect(formatDurationMs(1500)).toBe('1.5s');
    expect(formatDurationMs(250)).toBe('250ms');
    for (const ms of [500, 45_000, 5_400_000, 30 * 86_400_000]) expect(parseDuration(formatDurationMs(ms))).toBe(ms);
  });

  it('is what policy files read: durations and suspensions', () => {
    expect(DurationSchema.parse('90m')).toBe(90 * 60_000);
    expect(DurationSchema.safeParse('permanent').success).toBe(false);
    expect(DurationSchema.safeParse('0s').success).toBe(false);
    expect(SuspendSpecSchema.parse('30d')).toEqual({ durationMs: 30 * 86_400_000 });
    expect(SuspendSpecSchema.parse('permanent')).toEqual({ durationMs: null });
    expect(SuspendSpecSchema.safeParse('1M').success).toBe(false);
  });
});

describe('durations typed at the CLI (gateway/duration.ts)', () => {
  it('gives whole seconds, or null for permanent', () => {
    expect(parseDurationSeconds('30d')).toBe(30 * 86_400);
    expect(parseDurationSeconds('90')).toBe(90);
    expect(parseDurationSeconds('1.5s')).toBe(2);
    expect(parseDurationSeconds('permanent')).toBeNull();
  });

  it('refuses garbage and sub-second durations with an invalid-input error', () => {
    const failure = (text: string) => {
      try {
        parseDurationSeconds(text);
      } catch (err) {
        return err instanceof DomainError ? err.code : err;
      }
      return 'accepted';
    };
    for (const v of ['soon', '0d', '1M', '400ms']) expect(failure(v), v).toBe('invalid');
  });
});
