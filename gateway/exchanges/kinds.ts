import type { SignalExchange } from './exchange.ts';
import { HashListExchange } from './hashlist.ts';
import type { FetchLike } from './http.ts';
import { ModgateExchange } from './modgate.ts';
import { TatExchange } from './tat.ts';

/** The exchange kinds an operator can configure; a new kind is one entry here and one module. */
export const EXCHANGE_KINDS = ['tat', 'hashlist', 'modgate'] as const;
export type ExchangeKind = (typeof EXCHANGE_KINDS)[number];

export interface ExchangeConfig {
  kind: ExchangeKind;
  url: string;
  /** The opened credential (never logged). */
  credential: string | null;
}

export function createExchange(c: ExchangeConfig, fetchImpl?: FetchLike): SignalExchange {
  const f = fetchImpl ? { fetch: fetchImpl } : {};
  switch (c.kind) {
    case 'tat':
      return new TatExchange({ url: c.url, credential: c.credential, ...f });
    case 'hashlist':
      return new HashListExchange({ url: c.url, credential: c.credential, ...f });
    case 'modgate':
      return new ModgateExchange({ url: c.url, credential: c.credential, ...f });
  }
}
