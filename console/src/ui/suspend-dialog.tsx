import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { useApp } from '../app/context.ts';
import { ReasonDialog } from './dialog.tsx';
import { toast } from './toast.tsx';

const DURATIONS: Array<[string, number | undefined]> = [
  ['24 hours', 86_400],
  ['7 days', 7 * 86_400],
  ['30 days', 30 * 86_400],
  ['90 days', 90 * 86_400],
  ['Permanently', undefined],
];

/** Suspends an account's live-streaming rights (cuts its live streams) for a chosen time, with a reason. */
export function SuspendDialog(props: {
  open: boolean;
  handle: string;
  personBound: boolean;
  onClose: () => void;
  onDone: (reason: string) => Promise<void>;
}): JSX.Element {
  const { api } = useApp();
  const [duration, setDuration] = useState(2);
  return (
    <ReasonDialog
      open={props.open}
      title={`Suspend @${props.handle}`}
      description={<p>Ends any live stream now and refuses new ones{props.personBound ? ' — for every account of the same verified person' : ''}.</p>}
      confirmLabel="Suspend"
      danger
      onClose={props.onClose}
      onSubmit={async (reason) => {
        await api.suspend(props.handle, reason, DURATIONS[duration]![1]);
        toast(`@${props.handle} suspended`);
        await props.onDone(reason);
      }}
    >
      <label class="field">
        <span>Duration</span>
        <select name="duration" value={duration} onChange={(e) => setDuration(Number((e.target as HTMLSelectElement).value))}>
          {DURATIONS.map(([label], i) => (
            <option key={label} value={i}>
              {label}
            </option>
          ))}
        </select>
      </label>
    </ReasonDialog>
  );
}
