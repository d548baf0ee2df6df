import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';

/**
 * Maps the API's policy error paths (`rules[1].match.minScore`, policy/load.ts formatPath) to the line of
 * the editor text they concern, with the same YAML parser the gateway uses. A path into something that is
 * missing ("required") points at the deepest part that exists: the mapping that lacks the key.
 */

/** `rules[1].match.minScore` → ['rules', 1, 'match', 'minScore']; `(root)` → []. */
export function parsePath(path: string): Array<string | number> {
  if (path === '(root)' || path === '') return [];
  const out: Array<string | number> = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return out;
}

/** 1-based line of `path` in `text`, or null when the text does not parse at all. */
export function lineOfPath(text: string, path: string): number | null {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, keepSourceTokens: false, uniqueKeys: false });
  if (doc.errors.length > 0 && !doc.contents) return null;
  const line = (offset: number) => lc.linePos(offset).line;
  let node: Node | null = doc.contents as Node | null;
  // Where to point when the path stops: the key that introduced the current node, else the node itself.
  let at = node?.range ? line(node.range[0]) : 1;
  for (const seg of parsePath(path)) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return at;
      const key = pair.key as Node;
      at = key.range ? line(key.range[0]) : at;
      node = (pair.value as Node | null) ?? null;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) return at;
      at = item.range ? line(item.range[0]) : at;
      node = item;
    } else {
      return at;
    }
  }
  return at;
}

/** A YAML syntax error names its own position: "invalid YAML at line 12, column 3: …". */
export function lineOfMessage(message: string): number | null {
  const m = /at line (\d+)/.exec(message);
  return m ? Number(m[1]) : null;
}

export interface LineError {
  line: number | null;
  path: string;
  message: string;
}

export function locateErrors(text: string, errors: ReadonlyArray<{ path: string; message: string }>): LineError[] {
  return errors.map((e) => ({ ...e, line: lineOfMessage(e.message) ?? (e.path === '(root)' ? null : lineOfPath(text, e.path)) }));
}
