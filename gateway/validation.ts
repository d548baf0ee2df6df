import type { z } from 'zod';

/** Renders zod issues as `path.to[0].key: message` lines, the form every outside-input error uses. */
export function formatIssuePath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}

export function formatZodIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `  ${formatIssuePath(issue.path)}: ${issue.message}`).join('\n');
}

export function firstIssue(error: z.ZodError): { path: string; message: string } {
  const issue = error.issues[0];
  return issue ? { path: formatIssuePath(issue.path), message: issue.message } : { path: '(root)', message: 'invalid' };
}
