"""The wedding-day threshold model (SPEC section 4), in Python and as PromQL.

Higher-is-worse: the threshold shrinks by ``strictness`` on a wedding day
(0.80 → 0.40, 30 s → 15 s). Lower-is-worse ratios: the allowed shortfall below 1
shrinks by ``strictness`` (0.95 → 0.975). ``mode`` is 0 or 1; PromQL uses the
same formula with the mode recording rule, so a missing mode signal (recorded
as 1) means strict thresholds.
"""

from __future__ import annotations

from rulegen.model import Direction, Scaling, Threshold


def threshold_in_force(normal: float, direction: Direction, scaling: Scaling, mode: float,
                       strictness: float = 0.5) -> float:
    """The threshold that applies for a wedding-day ``mode`` of 0 (normal) or 1 (wedding day)."""
    if scaling is Scaling.FIXED:
        return normal
    factor = 1 - strictness * mode
    if direction is Direction.HIGHER_IS_WORSE:
        return normal * factor
    return 1 - (1 - normal) * factor


def number(value: float) -> str:
    """A float as PromQL/YAML text without noise: 900.0 → "900", 0.8 → "0.8"."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def threshold_promql(threshold: Threshold, mode_record: str, strictness: float) -> str:
    """The expression of the recording rule for the threshold in force."""
    normal = number(threshold.normal)
    if threshold.wedding_day is Scaling.FIXED:
        return f"vector({normal})"
    factor = f"(1 - {number(strictness)} * {mode_record})"
    if threshold.direction is Direction.HIGHER_IS_WORSE:
        return f"{normal} * {factor}"
    return f"1 - (1 - {normal}) * {factor}"


def mode_promql(metric: str) -> str:
    """The mode signal: the gauge, or 1 (strict) when it is absent."""
    return f"max({metric}) or on() vector(1)"
