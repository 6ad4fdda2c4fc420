/**
 * Pure helpers for decisions.  No DOM.
 */

/**
 * The "other" decision as seen by participant `myCode`.
 *
 * In a two-player group it is the other player's decision, whatever its type.
 * In a larger group it is the mean of the others' numeric decisions
 * (non-numeric ones are ignored); null when there is none.
 */
export function otherDecisionOf(groupDecisions, myCode) {
  if (!groupDecisions || typeof groupDecisions !== 'object') return null;
  const others = Object.keys(groupDecisions).filter((k) => k !== myCode);
  if (others.length === 0) return null;
  if (others.length === 1) {
    const v = groupDecisions[others[0]];
    return v === undefined ? null : v;
  }
  const nums = others.map((k) => groupDecisions[k])
    .filter((v) => typeof v === 'number' && Number.isFinite(v));
  if (nums.length === 0) return null;
  return nums.reduce((a, b) => a + b, 0) / nums.length;
}

/** Structural equality for JSON values (decisions are JSON). */
export function jsonEqual(a, b) {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') {
    return Number.isNaN(a) && Number.isNaN(b);
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEqual(a[k], b[k]));
}

/**
 * Parse an attribute value the way a page author means it: JSON when it
 * parses ("0.5" -> 0.5, "[1,2]" -> [1, 2], "true" -> true), else the string.
 */
export function parseJsonish(text) {
  if (text === null || text === undefined) return text;
  try { return JSON.parse(text); } catch (e) { return text; }
}
