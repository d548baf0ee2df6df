/** `%`, `_` and `\` in a person's text are literal in a LIKE pattern; both SQLite and PostgreSQL take `ESCAPE '\'` after it. */
export function likeText(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
