import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DSA_CATEGORIES, DSA_COUNTRY_CODES, DSA_KEYWORDS } from '../../policy/dsa.ts';

/**
 * A local stand-in for the EU's DSA Transparency Database API, for tests (the real one cannot be reached
 * from here). Written from the repository digital-services-act/transparency-database:
 *  - routes/api_v1.php: `POST statement`, `POST statements`, behind `auth:sanctum` (a bearer token);
 *  - app/Http/Requests/StatementStoreRequest.php: every field rule below (required, required_if,
 *    required_without_all, in:, max:, date_format:Y-m-d with its bounds, the puid regex);
 *  - app/Http/Controllers/Api/v1/StatementMultipleAPIController.php: `statements` is
 *    `required|array|between:1,100`, all statements are validated first (errors keyed `statement_<i>`),
 *    and the call is all or nothing; puids already stored (or repeated in the call) answer 422 with
 *    `errors.existing_puids` (app/Exceptions/PuidNotUniqueMultipleException.php);
 *  - app/Models/Statement.php: the allowed keys (categories and keywords via policy/dsa.ts, transcribed
 *    from the same file), and `automated_detection` / `incompatible_content_illegal` as the values Yes/No.
 * Unknown fields are ignored, as Laravel's validated() does, but recorded so a test can assert none are sent.
 * Faults: `failNext(n)` answers 500 without storing; `loseAnswerNext(n)` stores, then answers 500.
 */

const VISIBILITIES = [
  'DECISION_VISIBILITY_CONTENT_REMOVED',
  'DECISION_VISIBILITY_CONTENT_DISABLED',
  'DECISION_VISIBILITY_CONTENT_DEMOTED',
  'DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED',
  'DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED',
  'DECISION_VISIBILITY_CONTENT_LABELLED',
  'DECISION_VISIBILITY_OTHER',
];
const MONETARIES = ['DECISION_MONETARY_SUSPENSION', 'DECISION_MONETARY_TERMINATION', 'DECISION_MONETARY_OTHER'];
const PROVISIONS = [
  'DECISION_PROVISION_PARTIAL_SUSPENSION',
  'DECISION_PROVISION_TOTAL_SUSPENSION',
  'DECISION_PROVISION_PARTIAL_TERMINATION',
  'DECISION_PROVISION_TOTAL_TERMINATION',
];
const ACCOUNTS = ['DECISION_ACCOUNT_SUSPENDED', 'DECISION_ACCOUNT_TERMINATED'];
const ACCOUNT_TYPES = ['ACCOUNT_TYPE_BUSINESS', 'ACCOUNT_TYPE_PRIVATE'];
const GROUNDS = ['DECISION_GROUND_ILLEGAL_CONTENT', 'DECISION_GROUND_INCOMPATIBLE_CONTENT'];
const CONTENT_TYPES = [
  'CONTENT_TYPE_APP',
  'CONTENT_TYPE_AUDIO',
  'CONTENT_TYPE_IMAGE',
  'CONTENT_TYPE_PRODUCT',
  'CONTENT_TYPE_SYNTHETIC_MEDIA',
  'CONTENT_TYPE_TEXT',
  'CONTENT_TYPE_VIDEO',
  'CONTENT_TYPE_OTHER',
];
const SOURCE_TYPES = ['SOURCE_ARTICLE_16', 'SOURCE_TRUSTED_FLAGGER', 'SOURCE_TYPE_OTHER_NOTIFICATION', 'SOURCE_VOLUNTARY'];
const AUTOMATED_DECISIONS = ['AUTOMATED_DECISION_FULLY', 'AUTOMATED_DECISION_PARTIALLY', 'AUTOMATED_DECISION_NOT_AUTOMATED'];
const YES_NO = ['Yes', 'No'];
const KNOWN = new Set([
  'content_id',
  'content_id_ean',
  'decision_visibility',
  'decision_visibility_other',
  'decision_monetary',
  'decision_monetary_other',
  'decision_provision',
  'decision_account',
  'account_type',
  'category_specification',
  'category_specification_other',
  'decision_ground',
  'decision_ground_reference_url',
  'illegal_content_legal_ground',
  'illegal_content_explanation',
  'incompatible_content_ground',
  'incompatible_content_explanation',
  'incompatible_content_illegal',
  'content_type',
  'content_type_other',
  'category',
  'category_addition',
  'territorial_scope',
  'content_language',
  'content_date',
  'application_date',
  'end_date_account_restriction',
  'end_date_monetary_restriction',
  'end_date_service_restriction',
  'end_date_visibility_restriction',
  'decision_facts',
  'source_type',
  'source_identity',
  'automated_detection',
  'automated_decision',
  'puid',
]);

type Errors = Record<string, string[]>;
type Stmt = Record<string, unknown>;

const present = (v: unknown) => v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0);

function ymd(v: unknown, min: string | null, max: string): string | null {
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`))) return 'does not match the format Y-m-d';
  if (min && v < min) return `must be a date after or equal to ${min}`;
  if (v > max) return `must be a date before or equal to ${max}`;
  return null;
}

/** StatementStoreRequest::rules(), rule by rule. */
export function validateStatement(s: Stmt): Errors {
  const e: Errors = {};
  const add = (field: string, msg: string) => (e[field] ??= []).push(`The ${field.replace(/_/g, ' ')} ${msg}.`);
  const inList = (field: string, list: readonly string[], opts: { array?: boolean; nullable?: boolean } = {}) => {
    const v = s[field];
    if (v === undefined || (v === null && opts.nullable)) return;
    if (opts.array) {
      if (!Array.isArray(v)) return add(field, 'must be an array');
      if (v.some((x) => typeof x !== 'string' || !list.includes(x))) add(field, 'is invalid');
    } else if (typeof v !== 'string' || !list.includes(v)) add(field, 'is invalid');
  };
  const max = (field: string, n: number) => {
    const v = s[field];
    if (typeof v === 'string' && v.length > n) add(field, `must not be greater than ${n} characters`);
  };
  const required = (field: string) => {
    if (!present(s[field])) add(field, 'field is required');
  };

  const restrictions = ['decision_visibility', 'decision_monetary', 'decision_provision', 'decision_account'];
  for (const f of restrictions) {
    if (!present(s[f]) && !restrictions.some((o) => o !== f && present(s[o])))
      add(f, `field is required when none of ${restrictions.filter((o) => o !== f).join(' / ')} are present`);
  }
  inList('decision_visibility', VISIBILITIES, { array: true, nullable: true });
  if (Array.isArray(s.decision_visibility) && s.decision_visibility.includes('DECISION_VISIBILITY_OTHER')) required('decision_visibility_other');
  max('decision_visibility_other', 500);
  inList('decision_monetary', MONETARIES, { nullable: true });
  if (s.decision_monetary === 'DECISION_MONETARY_OTHER') required('decision_monetary_other');
  inList('decision_provision', PROVISIONS, { nullable: true });
  inList('decision_account', ACCOUNTS, { nullable: true });
  inList('account_type', ACCOUNT_TYPES, { nullable: true });
  inList('category_specification', DSA_KEYWORDS, { array: true, nullable: true });
  max('category_specification_other', 500);

  required('decision_ground');
  inList('decision_ground', GROUNDS);
  if (s.decision_ground_reference_url != null) {
    try {
      new URL(String(s.decision_ground_reference_url));
    } catch {
      add('decision_ground_reference_url', 'must be a valid URL');
    }
    max('decision_ground_reference_url', 500);
  }
  if (s.decision_ground === 'DECISION_GROUND_ILLEGAL_CONTENT') {
    required('illegal_content_legal_ground');
    required('illegal_content_explanation');
    max('illegal_content_legal_ground', 500);
    max('illegal_content_explanation', 2000);
  }
  if (s.decision_ground === 'DECISION_GROUND_INCOMPATIBLE_CONTENT') {
    required('incompatible_content_ground');
    required('incompatible_content_explanation');
    max('incompatible_content_ground', 500);
    max('incompatible_content_explanation', 2000);
    inList('incompatible_content_illegal', YES_NO);
  }

  required('content_type');
  inList('content_type', CONTENT_TYPES, { array: true });
  if (Array.isArray(s.content_type) && s.content_type.includes('CONTENT_TYPE_OTHER')) required('content_type_other');
  required('category');
  inList('category', DSA_CATEGORIES);
  inList('category_addition', DSA_CATEGORIES, { array: true });
  inList('territorial_scope', DSA_COUNTRY_CODES, { array: true, nullable: true });
  if (s.content_language != null && (typeof s.content_language !== 'string' || !/^[A-Z]{2}$/.test(s.content_language))) add('content_language', 'is invalid');

  required('content_date');
  if (present(s.content_date)) {
    const err = ymd(s.content_date, '2000-01-01', '2038-01-01');
    if (err) add('content_date', err);
  }
  required('application_date');
  if (present(s.application_date)) {
    const err = ymd(s.application_date, '2020-01-01', '2038-01-01');
    if (err) add('application_date', err);
  }
  for (const f of ['end_date_account_restriction', 'end_date_monetary_restriction', 'end_date_service_restriction', 'end_date_visibility_restriction']) {
    if (s[f] != null) {
      const err = ymd(s[f], null, '2038-01-01');
      if (err) add(f, err);
    }
  }
  required('decision_facts');
  max('decision_facts', 5000);
  required('source_type');
  inList('source_type', SOURCE_TYPES);
  max('source_identity', 500);
  required('automated_detection');
  inList('automated_detection', YES_NO);
  required('automated_decision');
  inList('automated_decision', AUTOMATED_DECISIONS);
  required('puid');
  max('puid', 500);
  if (typeof s.puid === 'string' && !/^[a-zA-Z0-9-_]+$/.test(s.puid)) add('puid', 'format is invalid');
  return e;
}

export interface TransparencyDbStandIn {
  url: string;
  token: string;
  /** Stored statements by puid. */
  stored: Map<string, Stmt>;
  /** Every call: path, how many statements it carried, the status answered. */
  calls: Array<{ path: string; count: number; status: number }>;
  unknownFields: Set<string>;
  failNext(n: number, status?: number): void;
  loseAnswerNext(n: number): void;
  close(): Promise<void>;
}

export async function startTransparencyDb(token = 'tdb-test-token-1234567890'): Promise<TransparencyDbStandIn> {
  const stored = new Map<string, Stmt>();
  const calls: TransparencyDbStandIn['calls'] = [];
  const unknownFields = new Set<string>();
  let fail = { n: 0, status: 500 };
  let lose = 0;

  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (raw += d));
    req.on('end', () => {
      const send = (status: number, body: unknown, count = 0) => {
        calls.push({ path: req.url ?? '', count, status });
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.headers.authorization !== `Bearer ${token}`) return send(401, { message: 'Unauthenticated.' });
      let body: { statements?: unknown } & Stmt;
      try {
        body = JSON.parse(raw) as typeof body;
      } catch {
        return send(400, { message: 'invalid JSON' });
      }
      const list: Stmt[] = req.url === '/api/v1/statements' ? (Array.isArray(body.statements) ? (body.statements as Stmt[]) : []) : [body];
      if (req.method !== 'POST' || (req.url !== '/api/v1/statements' && req.url !== '/api/v1/statement')) return send(404, { message: 'Not Found' });
      if (fail.n > 0) {
        fail.n--;
        return send(fail.status, { message: 'Server Error' }, list.length);
      }
      if (req.url === '/api/v1/statements' && (!Array.isArray(body.statements) || list.length < 1 || list.length > 100)) {
        return send(
          422,
          {
            message: 'The statements field must have between 1 and 100 items.',
            errors: { statements: ['The statements field must have between 1 and 100 items.'] },
          },
          list.length,
        );
      }
      const errors: Record<string, Errors> = {};
      list.forEach((s, i) => {
        for (const k of Object.keys(s)) if (!KNOWN.has(k)) unknownFields.add(k);
        const e = validateStatement(s);
        if (Object.keys(e).length) errors[`statement_${i}`] = e;
      });
      if (Object.keys(errors).length) {
        if (req.url === '/api/v1/statement') return send(422, { message: 'The given data was invalid.', errors: errors.statement_0 }, 1);
        return send(422, { errors }, list.length);
      }
      const puids = list.map((s) => String(s.puid));
      const dupes = puids.filter((p, i) => stored.has(p) || puids.indexOf(p) !== i);
      if (dupes.length) {
        const message = 'The platform identifier(s) are not all unique within this call.';
        if (req.url === '/api/v1/statement')
          return send(
            422,
            {
              message: 'The identifier given is not unique within this platform.',
              errors: { puid: ['The identifier given is not unique within this platform.'] },
              existing: { puid: dupes[0] },
            },
            1,
          );
        return send(422, { message, errors: { puid: [message], existing_puids: [...new Set(dupes)] } }, list.length);
      }
      for (const s of list) stored.set(String(s.puid), s);
      if (lose > 0) {
        lose--;
        return send(500, { message: 'Server Error' }, list.length);
      }
      if (req.url === '/api/v1/statement') return send(201, { ...list[0], uuid: `uuid-${stored.size}` }, 1);
      return send(201, { statements: list.map((s, i) => ({ ...s, uuid: `uuid-${stored.size - list.length + i}` })) }, list.length);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    stored,
    calls,
    unknownFields,
    failNext: (n, status = 500) => (fail = { n, status }),
    loseAnswerNext: (n) => (lose = n),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
