import { readFileSync } from 'node:fs';

/**
 * A V8 heap snapshot (`.heapsnapshot`, as `--heapsnapshot-signal` writes it) read into flat arrays and
 * summarised by constructor, the grouping of Chrome DevTools' "Summary" view: objects and closures by
 * name, everything else by its type ("(string)", "(array)", "(code)"…). A snapshot is taken after a full
 * GC, so the sum of self sizes is the live heap. Node ids are stable within a process, so two snapshots
 * of one process tell which objects are new (allocated between them and still alive).
 */

interface Meta {
  node_fields: string[];
  node_types: [string[], ...unknown[]];
  edge_fields: string[];
  edge_types: [string[], ...unknown[]];
}

export interface Snapshot {
  nodeCount: number;
  /** Per node: index into `groups`, self size, id. */
  group: Uint32Array;
  self: Float64Array;
  id: Uint32Array;
  groups: string[];
  /** Reverse edges for retainer paths: for node i, retainers are retainerNode[retainerStart[i] .. retainerStart[i+1]). */
  retainerStart: Uint32Array;
  retainerNode: Uint32Array;
  retainerEdge: string[];
  names: string[];
  nameOf: Uint32Array;
  /** 1 for native nodes (ArrayBuffer backing stores and other memory outside the V8 heap proper). */
  native: Uint8Array;
}

export function readSnapshot(file: string): Snapshot {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: Meta; node_count: number };
    nodes: number[];
    edges: number[];
    strings: string[];
  };
  const meta = raw.snapshot.meta;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const fType = meta.node_fields.indexOf('type');
  const fName = meta.node_fields.indexOf('name');
  const fId = meta.node_fields.indexOf('id');
  const fSelf = meta.node_fields.indexOf('self_size');
  const fEdges = meta.node_fields.indexOf('edge_count');
  const eType = meta.edge_fields.indexOf('type');
  const eName = meta.edge_fields.indexOf('name_or_index');
  const eTo = meta.edge_fields.indexOf('to_node');
  const types = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const n = raw.nodes.length / nf;
  const group = new Uint32Array(n);
  const self = new Float64Array(n);
  const id = new Uint32Array(n);
  const nameOf = new Uint32Array(n);
  const native = new Uint8Array(n);
  const groupIndex = new Map<string, number>();
  const groups: string[] = [];
  for (let i = 0; i < n; i++) {
    const t = types[raw.nodes[i * nf + fType]!]!;
    const name = raw.strings[raw.nodes[i * nf + fName]!]!;
    const key = t === 'object' || t === 'closure' || t === 'native' ? `${name}${t === 'closure' ? ' (closure)' : ''}` : `(${t})`;
    let g = groupIndex.get(key);
    if (g === undefined) groupIndex.set(key, (g = groups.push(key) - 1));
    group[i] = g;
    self[i] = raw.nodes[i * nf + fSelf]!;
    id[i] = raw.nodes[i * nf + fId]!;
    nameOf[i] = raw.nodes[i * nf + fName]!;
    native[i] = t === 'native' ? 1 : 0;
  }
  // Reverse edges (weak ones left out: they do not retain).
  const count = new Uint32Array(n + 1);
  let e = 0;
  for (let i = 0; i < n; i++) {
    const edges = raw.nodes[i * nf + fEdges]!;
    for (let k = 0; k < edges; k++, e += ef) {
      if (edgeTypes[raw.edges[e + eType]!] === 'weak') continue;
      count[raw.edges[e + eTo]! / nf]!++;
    }
  }
  const retainerStart = new Uint32Array(n + 1);
  for (let i = 0; i < n; i++) retainerStart[i + 1] = retainerStart[i]! + count[i]!;
  const fill = retainerStart.slice(0, n);
  const retainerNode = new Uint32Array(retainerStart[n]!);
  const retainerEdge: string[] = new Array<string>(retainerStart[n]!);
  e = 0;
  for (let i = 0; i < n; i++) {
    const edges = raw.nodes[i * nf + fEdges]!;
    for (let k = 0; k < edges; k++, e += ef) {
      const et = edgeTypes[raw.edges[e + eType]!]!;
      if (et === 'weak') continue;
      const to = raw.edges[e + eTo]! / nf;
      const nameOrIndex = raw.edges[e + eName]!;
      const slot = fill[to]!++;
      retainerNode[slot] = i;
      retainerEdge[slot] = et === 'element' || et === 'hidden' ? `[${nameOrIndex}]` : String(raw.strings[nameOrIndex]);
    }
  }
  return { nodeCount: n, group, self, id, groups, retainerStart, retainerNode, retainerEdge, names: raw.strings, nameOf, native };
}

/** Live bytes after the snapshot's full GC: the V8 heap's objects (`native` false) or native memory the snapshot sees (backing stores). */
export function liveBytes(s: Snapshot, native = false): number {
  let sum = 0;
  for (let i = 0; i < s.nodeCount; i++) if (s.native[i] === (native ? 1 : 0)) sum += s.self[i]!;
  return sum;
}

export interface Grower {
  constructor: string;
  countBefore: number;
  countAfter: number;
  bytesBefore: number;
  bytesAfter: number;
  /** Objects of this group in `after` whose id is not in `before`: allocated between the two and alive. */
  newCount: number;
  newBytes: number;
}

function byGroup(s: Snapshot): Map<string, { count: number; bytes: number }> {
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < s.nodeCount; i++) {
    const k = s.groups[s.group[i]!]!;
    const g = out.get(k) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += s.self[i]!;
    out.set(k, g);
  }
  return out;
}

/** Constructors by growth of self size from `before` to `after` (largest first). */
export function compare(before: Snapshot, after: Snapshot): Grower[] {
  const b = byGroup(before);
  const a = byGroup(after);
  const old = new Set<number>(before.id);
  const fresh = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < after.nodeCount; i++) {
    if (old.has(after.id[i]!)) continue;
    const k = after.groups[after.group[i]!]!;
    const g = fresh.get(k) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += after.self[i]!;
    fresh.set(k, g);
  }
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys]
    .map((k) => ({
      constructor: k,
      countBefore: b.get(k)?.count ?? 0,
      countAfter: a.get(k)?.count ?? 0,
      bytesBefore: b.get(k)?.bytes ?? 0,
      bytesAfter: a.get(k)?.bytes ?? 0,
      newCount: fresh.get(k)?.count ?? 0,
      newBytes: fresh.get(k)?.bytes ?? 0,
    }))
    .sort((x, y) => y.bytesAfter - y.bytesBefore - (x.bytesAfter - x.bytesBefore));
}

/**
 * A retainer path of one object of `after` that is new since `before`, of group `constructor`: from the
 * object up its retainers (breadth first, preferring named properties) to a GC root or `maxDepth`.
 * Shows what holds the growth: `Map (table)[123] <- Map <- StreamRegistry.streams <- …`.
 */
export function retainerPath(before: Snapshot, after: Snapshot, constructor: string, sample = 0, maxDepth = 14): string | null {
  const old = new Set<number>(before.id);
  let seen = 0;
  let start = -1;
  for (let i = 0; i < after.nodeCount; i++) {
    if (after.groups[after.group[i]!] !== constructor || old.has(after.id[i]!)) continue;
    if (seen++ === sample) {
      start = i;
      break;
    }
  }
  if (start < 0) return null;
  const prev = new Map<number, { node: number; edge: string }>();
  prev.set(start, { node: -1, edge: '' });
  let frontier = [start];
  let end = -1;
  for (let depth = 0; depth < maxDepth && frontier.length && end < 0; depth++) {
    const next: number[] = [];
    for (const v of frontier) {
      for (let r = after.retainerStart[v]!; r < after.retainerStart[v + 1]!; r++) {
        const u = after.retainerNode[r]!;
        if (prev.has(u)) continue;
        const g = after.groups[after.group[u]!]!;
        // Synthetic roots end the path; the system's own bookkeeping is not what holds app data.
        prev.set(u, { node: v, edge: after.retainerEdge[r]! });
        if (g === '(synthetic)' || /^\(GC roots\)|^\(Global handles\)/.test(after.names[after.nameOf[u]!] ?? '')) {
          end = u;
          break;
        }
        next.push(u);
      }
      if (end >= 0) break;
    }
    frontier = next;
  }
  // Walk back from the deepest reached (the root, or the last frontier) to the object.
  const tip = end >= 0 ? end : frontier[0];
  if (tip === undefined) return null;
  const parts: string[] = [];
  const label = (i: number) => {
    const g = after.groups[after.group[i]!]!;
    return g.startsWith('(') ? `${g} ${JSON.stringify(String(after.names[after.nameOf[i]!]).slice(0, 40))}` : g;
  };
  // prev maps a retainer to the node it retains: from the root down to the object.
  let cur = tip;
  while (cur !== -1) {
    const p = prev.get(cur)!;
    parts.push(p.node === -1 ? label(cur) : `${label(cur)}.${p.edge}`);
    cur = p.node;
  }
  return parts.join(' -> ');
}
