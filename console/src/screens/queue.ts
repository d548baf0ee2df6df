import type { Decision, ReviewPriority } from '../api/types.ts';

const RANK: Record<ReviewPriority, number> = { urgent: 0, high: 1, normal: 2, low: 3 };

/** The order a moderator works the queue in: most urgent first, then oldest first. */
export function queueOrder(decisions: readonly Decision[]): Decision[] {
  return [...decisions].sort((a, b) => {
    const pa = RANK[a.review.priority ?? 'normal'] ?? 2;
    const pb = RANK[b.review.priority ?? 'normal'] ?? 2;
    return pa - pb || Date.parse(a.decidedAt) - Date.parse(b.decidedAt) || (a.id < b.id ? -1 : 1);
  });
}

/** After an item leaves the queue, the one to show next: the item that took its place, else the one before. */
export function nextAfter(list: readonly Decision[], removedId: string): string | null {
  const i = list.findIndex((d) => d.id === removedId);
  if (i < 0) return list[0]?.id ?? null;
  return list[i + 1]?.id ?? list[i - 1]?.id ?? null;
}
