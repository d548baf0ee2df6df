import { z } from 'zod';

/**
 * Handles are public names: lowercase letters, digits, `_`, `-`, `.`; 2–40 characters. A module of its own
 * (no I/O), so schemas the console also reads (gateway/api/schemas.ts) can use it.
 */
export const HandleSchema = z.string().regex(/^[a-z0-9][a-z0-9_.-]{1,39}$/, 'a handle is 2–40 characters of a-z, 0-9, _ . - (starting with a letter or digit)');
