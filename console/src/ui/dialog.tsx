import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { Button, errorText } from './components.tsx';

/**
 * A modal (native <dialog>: focus is trapped, Esc closes) that asks for a reason — every state change in
 * modgate is audited with one — and shows the API's error inline if the action fails.
 */
export function ReasonDialog(props: {
  open: boolean;
  title: string;
  description?: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  reasonRequired?: boolean;
  reasonLabel?: string;
  placeholder?: string;
  initialReason?: string;
  children?: ComponentChildren;
  onClose: () => void;
  onSubmit: (reason: string) => Promise<void>;
}): JSX.Element {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const [reason, setReason] = useState(props.initialReason ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) {
      setReason(props.initialReason ?? '');
      setError(null);
      d.showModal();
    } else if (!props.open && d.open) d.close();
  }, [props.open]);
  const required = props.reasonRequired ?? true;
  const submit = async (e: Event) => {
    e.preventDefault();
    if (required && reason.trim() === '') return setError(new Error('A reason is required: it is recorded in the audit log.'));
    setBusy(true);
    setError(null);
    try {
      await props.onSubmit(reason.trim());
      props.onClose();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <dialog ref={ref} class="dialog" onClose={props.onClose} aria-labelledby={titleId}>
      <form onSubmit={submit} method="dialog">
        <h2 id={titleId}>{props.title}</h2>
        {props.description && <div class="dialog-desc">{props.description}</div>}
        {props.children}
        <label class="field">
          <span>
            {props.reasonLabel ?? 'Reason'}
            {required ? '' : ' (optional)'}
          </span>
          <textarea
            rows={3}
            value={reason}
            placeholder={props.placeholder}
            onInput={(e) => setReason((e.target as HTMLTextAreaElement).value)}
            maxLength={500}
            autoFocus
            name="reason"
          />
        </label>
        {error !== null && (
          <div class="alert alert-bad" role="alert">
            {errorText(error)}
          </div>
        )}
        <div class="dialog-actions">
          <Button variant="ghost" onClick={props.onClose} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" variant={props.danger ? 'danger' : 'primary'} disabled={busy}>
            {busy ? 'Working…' : props.confirmLabel}
          </Button>
        </div>
      </form>
    </dialog>
  );
}

/** A modal that shows a secret once (a new stream key or streamer token), with a copy button. */
export function SecretDialog(props: { open: boolean; title: string; secret: string; note: string; onClose: () => void }): JSX.Element {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) {
      setCopied(false);
      d.showModal();
    } else if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog ref={ref} class="dialog" onClose={props.onClose} aria-labelledby={titleId}>
      <h2 id={titleId}>{props.title}</h2>
      <p class="dialog-desc">{props.note}</p>
      <div class="secret">
        <code data-secret>{props.secret}</code>
        <Button
          small
          onClick={async () => {
            await navigator.clipboard?.writeText(props.secret).catch(() => {});
            setCopied(true);
          }}
        >
          {copied ? 'Copied' : 'Copy'}
        </Button>
      </div>
      <div class="dialog-actions">
        <Button variant="primary" onClick={props.onClose}>
          Done
        </Button>
      </div>
    </dialog>
  );
}
