/**
 * Pure helpers for decisions.  No DOM.
 */

/**
 * The "other" decision as seen by participant `myCode`, as 0.9.x computes
 * it: the decision of the first member of the map (in the map's key order)
 * who is not `myCode`, whatever the group's size and the value's type; null
 * when there is no map or no other member.
 */
export function otherDecisionOf(groupDecisions, myCode) {
  if (!groupDecisions || typeof groupDecisions !== 'object') return null;
  for (const key of Object.keys(groupDecisions)) {
    if (key !== myCode) return groupDecisions[key];
  }
  return null;
}

/**
 * The mean of the other members' numeric decisions (non-numeric ones are
 * ignored); null when there is none.  For mean-matching games, where
 * otherDecision (one member's decision) is not what the page needs.
 */
export function othersMeanOf(groupDecisions, myCode) {
  if (!groupDecisions || typeof groupDecisions !== 'object') return null;
  const nums = Object.keys(groupDecisions).filter((k) => k !== myCode)
    .map((k) => groupDecisions[k])
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
