/**
 * Screens that change what the shell shows beside them (the navigation counters, the active-incident banner)
 * without a pushed event for it say so here; the shell re-reads.
 */
export const SHELL_STALE = 'modgate:shell-stale';

export const shellStale = (): void => void window.dispatchEvent(new Event(SHELL_STALE));
