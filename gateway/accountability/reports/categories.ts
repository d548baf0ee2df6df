/**
 * What a viewer may report a live stream for (Ofcom's codes ask for imminent harm to be reportable in real
 * time). A module of its own, without imports, so the console's reports queue reads the same list.
 */
export const REPORT_CATEGORIES = ['imminent_harm', 'terrorism', 'child_safety', 'violence', 'hate', 'self_harm', 'other'] as const;
export type ReportCategory = (typeof REPORT_CATEGORIES)[number];
