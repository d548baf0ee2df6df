import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { AdminApi } from '../api/endpoints.ts';
import type { PushClient } from '../push/push.ts';
import type { Session } from './session.ts';

export interface AppContext {
  api: AdminApi;
  session: Session;
  push: PushClient;
  isOperator: boolean;
  signOut: () => void;
}

export const AppCtx = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const ctx = useContext(AppCtx);
  if (!ctx) throw new Error('useApp outside the signed-in app');
  return ctx;
}
