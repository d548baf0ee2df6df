import { stallRuleId, type Policy } from './schema.ts';

/**
 * A crisis overlay (gateway/crisis/): a second policy laid over the active one while an incident is
 * declared. Its rules and stall entries are checked first (rules fire in file order and an enforced cut
 * ends the stream, so the overlay's stricter rules win); the base policy's stay behind them, except those
 * the overlay replaces by id. The overlay's defaults apply to its own rules (they were normalised when it
 * was parsed); the base keeps its own. Decisions name both (`base+overlay`), so each is traceable to the
 * two versions that made it. Pure: no I/O.
 */
export function withOverlay(base: Policy, overlay: Policy): Policy {
  const ruleIds = new Set(overlay.rules.map((r) => r.id));
  const stallIds = new Set(overlay.stall.map(stallRuleId));
  return {
    ...base,
    name: `${base.name}+${overlay.name}`,
    version: `${base.version}+${overlay.version}`,
    rules: [...overlay.rules, ...base.rules.filter((r) => !ruleIds.has(r.id))],
    stall: [...overlay.stall, ...base.stall.filter((s) => !stallIds.has(stallRuleId(s)))],
  };
}
