import { describe, expect, it } from 'vitest';
import {
  type HashListItem,
  detectHashListFormat,
  parseHashList,
  parseHashListLines,
  serializeHashList,
  splitCsvLine,
} from '../../classifiers/hashlist-format.ts';

const A = 'f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22';
const B = 'b0a10efd71cc3f429413d48d0ffffe12e34e0e17ada952a9d29684210aa9e5af';
const C = 'adad5a64b5a142e55362a09057dacd5ae63b847fc23794b766b319361fc93188';

describe('hash-list format detection', () => {
  it('detects plain hex, HMA signal lines and CSV headers from the first content line', () => {
    expect(detectHashListFormat(A)).toBe('plain');
    expect(detectHashListFormat(`pdq ${A}`)).toBe('hma');
    expect(detectHashListFormat('hash,category,note')).toBe('csv');
    expect(detectHashListFormat('"signal_value","category"')).toBe('csv');
    expect(detectHashListFormat('pdq,severity')).toBe('csv');
    expect(detectHashListFormat('nonsense')).toBeNull();
  });

  it('detects past leading comments and blank lines', () => {
    const result = parseHashList(`# exported 2024-05-01\n\n# another\npdq ${A}\n`);
    expect(result.format).toBe('hma');
    expect(result.entries).toEqual([{ line: 4, hash: A }]);
  });
});

describe('plain hash lists', () => {
  it('reports the exact entries and errors of a file mixing good and bad lines', () => {
    const text = [
      '# bank: test', // 1
      A, // 2
      '', // 3
      B.toUpperCase(), // 4
      'abc', // 5
      `  ${C}  `, // 6
      `${A}0`, // 7
      'zz'.repeat(32), // 8
    ].join('\n');
    expect(parseHashList(text)).toEqual({
      format: 'plain',
      entries: [
        { line: 2, hash: A },
        { line: 4, hash: B },
        { line: 6, hash: C },
      ],
      errors: [
        { line: 5, reason: "line 5: not a 64-hex PDQ hash: 'abc'" },
        { line: 7, reason: `line 7: not a 64-hex PDQ hash: '${A}0'` },
        { line: 8, reason: `line 8: not a 64-hex PDQ hash: '${'zz'.repeat(32)}'` },
      ],
    });
  });

  it('handles CRLF line endings', () => {
    expect(parseHashList(`${A}\r\n${B}\r\n`).entries.map((e) => e.hash)).toEqual([A, B]);
  });

  it('reports an undetectable first line and still checks the rest as plain hashes', () => {
    const result = parseHashList(`hello\n${A}\n`);
    expect(result.errors).toEqual([
      {
        line: 1,
        reason: "line 1: cannot tell the list format from 'hello' (expected a 64-hex hash, 'pdq <hash>', or a CSV header with a hash column)",
      },
    ]);
    expect(result.entries).toEqual([{ line: 2, hash: A }]);
  });
});

describe('HMA signal lists', () => {
  it('keeps pdq lines, reports other signal types as unsupported and bad values as not hashes', () => {
    const text = [`pdq ${A}`, `video_md5 0a21c8f85a55a9e276ffc2c53f6887c4`, `PDQ\t${B}`, 'pdq 1234', `pdq ${C} seen in bank X`].join('\n');
    expect(parseHashList(text)).toEqual({
      format: 'hma',
      entries: [
        { line: 1, hash: A },
        { line: 3, hash: B },
        { line: 5, hash: C, note: 'seen in bank X' },
      ],
      errors: [
        { line: 2, reason: "line 2: unsupported signal type 'video_md5' (only pdq)" },
        { line: 4, reason: "line 4: not a 64-hex PDQ hash: '1234'" },
      ],
    });
  });
});

describe('CSV hash lists', () => {
  it('reads the hash column by name with optional metadata, quoted fields included', () => {
    const text = [
      'source,pdq,category,note,severity',
      `gifct,${A},terror,"clip, from stream ""x""",high`,
      `ncmec,${B},csam,,critical`,
      `,"${C}",,plain note,`,
    ].join('\n');
    expect(parseHashList(text)).toEqual({
      format: 'csv',
      entries: [
        { line: 2, hash: A, source: 'gifct', category: 'terror', note: 'clip, from stream "x"', severity: 'high' },
        { line: 3, hash: B, source: 'ncmec', category: 'csam', severity: 'critical' },
        { line: 4, hash: C, note: 'plain note' },
      ],
      errors: [],
    });
  });

  it('reports the exact errors of a CSV mixing good and bad rows', () => {
    const text = [
      '# header follows',
      'signal_value,category,severity',
      `${A},violence,medium`,
      `${B},violence`,
      `nothex,violence,low`,
      `${C},violence,urgent`,
      `"${A},violence,low`,
      `${B},"spam"x,low`,
    ].join('\n');
    expect(parseHashList(text)).toEqual({
      format: 'csv',
      entries: [{ line: 3, hash: A, category: 'violence', severity: 'medium' }],
      errors: [
        { line: 4, reason: 'line 4: expected 3 CSV fields as in the header, got 2' },
        { line: 5, reason: "line 5: not a 64-hex PDQ hash: 'nothex'" },
        { line: 6, reason: "line 6: severity must be one of low, medium, high, critical: 'urgent'" },
        { line: 7, reason: 'line 7: unterminated quoted CSV field' },
        { line: 8, reason: "line 8: text after a closing quote: 'x'" },
      ],
    });
  });

  it('rejects a forced-CSV header without a hash column', () => {
    const result = parseHashList(`id,category\n1,x\n`, { format: 'csv' });
    expect(result.errors[0]).toEqual({
      line: 1,
      reason: "line 1: CSV header has no hash column (one of hash, pdq, signal_value): 'id,category'",
    });
  });

  it('splits RFC 4180 fields', () => {
    expect(splitCsvLine('a,"b,c",,"d""e"')).toEqual({ ok: true, fields: ['a', 'b,c', '', 'd"e'] });
    expect(splitCsvLine('a, "b"')).toEqual({ ok: true, fields: ['a', 'b'] });
  });
});

describe('forcing and streaming', () => {
  it('parses with a forced format instead of detecting it', () => {
    // Forced plain: an HMA line is then just a malformed hash.
    const result = parseHashList(`pdq ${A}\n`, { format: 'plain' });
    expect(result.entries).toEqual([]);
    expect(result.errors[0]?.reason).toBe(`line 1: not a 64-hex PDQ hash: 'pdq ${A}'`);
  });

  it('streams items from an async line source with line numbers', async () => {
    async function* lines(): AsyncGenerator<string> {
      yield '# comment';
      yield `pdq ${A}`;
      yield 'pdq nope';
    }
    const items: HashListItem[] = [];
    for await (const item of parseHashListLines(lines())) items.push(item);
    expect(items).toEqual([
      { kind: 'entry', entry: { line: 2, hash: A } },
      { kind: 'error', error: { line: 3, reason: "line 3: not a 64-hex PDQ hash: 'nope'" } },
    ]);
  });
});

describe('hash-list export', () => {
  const records = [{ hash: A.toUpperCase(), category: 'terror', note: 'has, comma and "quotes"', source: 'gifct', severity: 'high' as const }, { hash: B }];

  it('writes each format so that parsing it back gives the same hashes', () => {
    expect(serializeHashList(records, 'plain')).toBe(`${A}\n${B}\n`);
    expect(serializeHashList(records, 'hma')).toBe(`pdq ${A}\npdq ${B}\n`);
    for (const format of ['plain', 'hma', 'csv'] as const) {
      const back = parseHashList(serializeHashList(records, format));
      expect(back.format).toBe(format);
      expect(back.errors).toEqual([]);
      expect(back.entries.map((e) => e.hash)).toEqual([A, B]);
    }
  });

  it('keeps every metadata field through a CSV round trip', () => {
    const back = parseHashList(serializeHashList(records, 'csv'));
    expect(back.entries).toEqual([
      { line: 2, hash: A, category: 'terror', note: 'has, comma and "quotes"', source: 'gifct', severity: 'high' },
      { line: 3, hash: B },
    ]);
  });

  it('refuses to export a malformed hash', () => {
    expect(() => serializeHashList([{ hash: 'abc' }], 'plain')).toThrow(/not a 64-hex PDQ hash: 'abc'/);
  });
});

describe('vPDQ and pdq-photo-hasher lines', () => {
  it('reads vPDQ compact features (hash,quality,timestamp) as frame hashes with their quality and time', () => {
    // As vpdq's CLI prints them (python/vpdq.pyx _cli) and python-threatexchange's VpdqCompactFeature parses them.
    const result = parseHashList(`${A},100,0.000\n${B},87,1.000\n${C.toUpperCase()},12,1.23e+02\n`);
    expect(result).toEqual({
      format: 'vpdq',
      entries: [
        { line: 1, hash: A, quality: 100, note: 't=0.000s', timestampSec: 0 },
        { line: 2, hash: B, quality: 87, note: 't=1.000s', timestampSec: 1 },
        { line: 3, hash: C, quality: 12, note: 't=123.000s', timestampSec: 123 },
      ],
      errors: [],
    });
  });

  it('reads vPDQ C++ hash files (frame,quality,hash,timestamp), as vpdq/cpp io/vpdqio.cpp writes them', () => {
    const result = parseHashList(`0,100,${A},0.000\n30,100,${B},1.000\n`);
    expect(result.format).toBe('vpdq');
    expect(result.entries).toEqual([
      { line: 1, hash: A, quality: 100, note: 'frame 0, t=0.000s', timestampSec: 0 },
      { line: 2, hash: B, quality: 100, note: 'frame 30, t=1.000s', timestampSec: 1 },
    ]);
  });

  it("reads pdq-photo-hasher's and modgate hash's hash,quality,file lines, with comments and commas in names", () => {
    const text = `# clip.mp4: vPDQ, 1 frame(s) per second\n${A},100,photos/a, b.jpg\n${B},3,q0003.jpg\n${C},95,2.500\n`;
    expect(parseHashList(text).entries).toEqual([
      { line: 2, hash: A, quality: 100, note: 'photos/a, b.jpg' },
      { line: 3, hash: B, quality: 3, note: 'q0003.jpg' },
      { line: 4, hash: C, quality: 95, note: 't=2.500s', timestampSec: 2.5 },
    ]);
  });

  it('reports a bad quality, a negative timestamp and a broken hash per line', () => {
    const text = [`${A},100,0.000`, `${B},101,1.000`, `${C},50,-1`, `${A.slice(2)},50,2.000`, `${B},x,3.000`].join('\n');
    const result = parseHashList(text);
    expect(result.entries.map((e) => e.line)).toEqual([1]);
    expect(result.errors.map((e) => e.line)).toEqual([2, 3, 4, 5]);
  });
});
