import type { Kysely } from 'kysely';
import { issueToken } from '../admin/tokens.ts';
import { issueAccountToken } from '../identity/account-tokens.ts';
import { addAccount } from '../identity/accounts.ts';
import { issueKey } from '../identity/keys.ts';
import type { Database } from '../store/schema.ts';

export interface FirstRun {
  handle: string;
  streamKey: string;
  operatorToken: string;
  /** The demo account's streamer token (status and appeals at /api/v1/me). */
  streamerToken: string;
}

/**
 * On an empty database, creates a verified demo account with a stream key and an operator token, so a
 * newcomer can go live at once. Secrets are printed once by the caller and stored only as hashes.
 */
export async function seedFirstRun(db: Kysely<Database>): Promise<FirstRun | null> {
  const any = await db.selectFrom('accounts').select('id').limit(1).executeTakeFirst();
  const anyToken = await db.selectFrom('admin_tokens').select('id').limit(1).executeTakeFirst();
  if (any || anyToken) return null;
  const actor = { id: 'demo' };
  await addAccount(db, actor, { handle: 'demo', verified: true, subject: 'demo-person', reason: 'first-run demo account' });
  const { key } = await issueKey(db, actor, 'demo');
  const { token } = await issueToken(db, 'demo', 'first-run-operator', 'operator');
  const { token: streamerToken } = await issueAccountToken(db, actor, 'demo');
  return { handle: 'demo', streamKey: key, operatorToken: token, streamerToken };
}

export function firstRunBanner(opts: { rtmpUrl: string; httpUrl: string; dataDir: string; db: string; demo: FirstRun | null }): string {
  const lines = [
    '',
    'modgate is running',
    `  RTMP ingest   ${opts.rtmpUrl}            (OBS: Service "Custom", Server = this URL)`,
    `  HTTP API      ${opts.httpUrl}/api/v1      (OpenAPI: ${opts.httpUrl}/api/openapi.json)`,
    `  WebSocket     ${opts.httpUrl.replace(/^http/, 'ws')}/ingest`,
    `  Data          ${opts.dataDir}  (${opts.db})`,
  ];
  if (opts.demo) {
    lines.push(
      '',
      'First run: a verified demo account was created. These secrets are shown ONCE (only hashes are stored):',
      `  account         ${opts.demo.handle}`,
      `  stream key      ${opts.demo.streamKey}`,
      `  operator token  ${opts.demo.operatorToken}`,
      `  streamer token  ${opts.demo.streamerToken}   (the account's own: status and appeals)`,
      '',
      'Go live with ffmpeg:',
      `  ffmpeg -re -f lavfi -i testsrc2=size=1280x720:rate=30 -c:v libx264 -preset veryfast -tune zerolatency -g 60 -f flv ${opts.rtmpUrl}/${opts.demo.streamKey}`,
      'See it and cut it:',
      `  curl -H "Authorization: Bearer ${opts.demo.operatorToken}" ${opts.httpUrl}/api/v1/streams`,
      `  curl -X POST -H "Authorization: Bearer ${opts.demo.operatorToken}" -H "Content-Type: application/json" -d '{"reason":"test"}' ${opts.httpUrl}/api/v1/streams/STREAM_ID/cut`,
      'What the streamer sees (status, suspension, how to appeal):',
      `  curl -H "Authorization: Bearer ${opts.demo.streamerToken}" ${opts.httpUrl}/api/v1/me`,
    );
  } else {
    lines.push(
      '',
      'Accounts exist already. New key: modgate key issue HANDLE   New token: modgate token issue --role operator NAME   Streamer token: modgate account token HANDLE',
    );
  }
  return `${lines.join('\n')}\n`;
}
