/**
 * Strategy of <redwood-decision-bot>.  No DOM; randomness is injectable.
 */

/** Seconds to wait before the next move: exponential with rate `lambda`/s. */
export function exponentialWait(lambda, random = Math.random) {
  const rate = Number(lambda) > 0 ? Number(lambda) : 1;
  // 1 - U lies in (0, 1], so the log is finite.
  return Math.abs(Math.log(1 - random())) / rate;
}

/**
 * Best response on a grid of `gridSize` points over [min, max]: the grid
 * point that maximises payoffFunction(x, otherDecision).  Ties go to the
 * point closest to `current` so the bot does not wander between equal
 * choices.  Returns null when no point has a finite payoff.
 */
export function bestResponse(payoffFunction, otherDecision,
                             {gridSize = 101, min = 0, max = 1, current = null} = {}) {
  const n = Math.max(2, Math.floor(gridSize));
  let best = null;
  let bestPayoff = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = min + (max - min) * i / (n - 1);
    const p = Number(payoffFunction(x, otherDecision));
    if (!Number.isFinite(p)) continue;
    const closer = best !== null && typeof current === 'number' &&
      Math.abs(x - current) < Math.abs(best - current);
    if (p > bestPayoff + 1e-12 || (Math.abs(p - bestPayoff) <= 1e-12 && closer)) {
      best = x;
      bestPayoff = p;
    }
  }
  return best;
}

/**
 * Move from `current` toward `target` by at most `velocity`.  Non-numeric
 * values, a missing current value, or no velocity (null/undefined/<=0) jump
 * straight to the target.
 */
export function stepToward(current, target, velocity) {
  const v = Number(velocity);
  if (typeof current !== 'number' || !Number.isFinite(current) ||
      typeof target !== 'number' || !Number.isFinite(target) ||
      velocity === null || velocity === undefined || !(v > 0)) {
    return target;
  }
  const d = target - current;
  // the tolerance absorbs rounding (0.35 + 0.05 is 0.39999999999999997)
  if (Math.abs(d) <= v + 1e-9) return target;
  return current + Math.sign(d) * v;
}

/**
 * One move of the bot.
 *
 * state: {myDecision, otherDecision, payoffFunction, velocity, pattern,
 *         patternIndex, min, max, gridSize}
 * With a non-empty `pattern` the bot heads for pattern[patternIndex] and,
 * once there, for the next value (cycling).  Otherwise, with a
 * payoffFunction, it heads for the best response to otherDecision; with
 * neither, for a random point in [min, max].
 * Returns {decision, patternIndex, target}.
 */
export function nextMove(state, random = Math.random) {
  const {myDecision, otherDecision, payoffFunction, velocity,
         min = 0, max = 1, gridSize = 101} = state;
  let patternIndex = state.patternIndex || 0;
  let target;
  if (Array.isArray(state.pattern) && state.pattern.length > 0) {
    patternIndex %= state.pattern.length;
    if (sameValue(myDecision, state.pattern[patternIndex])) {
      patternIndex = (patternIndex + 1) % state.pattern.length;
    }
    target = state.pattern[patternIndex];
  } else if (typeof payoffFunction === 'function') {
    target = bestResponse(payoffFunction, otherDecision,
                          {gridSize, min, max, current: myDecision});
    if (target === null) target = myDecision;
  } else {
    target = min + (max - min) * random();
  }
  const decision = stepToward(myDecision, target, velocity);
  return {decision, patternIndex, target};
}

function sameValue(a, b) {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) < 1e-9;
  return a === b;
}
