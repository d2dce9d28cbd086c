"""How an executed notebook's stored outputs are compared with a fresh run: same words, numbers within tolerance.

Torch's floating-point results change in the last bits with the CPU's instruction set (AVX-512, AVX2, Apple's
NEON) and with the number of threads, because both change how sums are split up. A notebook executed on another
machine therefore prints the same words with digits that may differ at the end: `0.995` instead of `0.994`, a
figure point at 0.4341 instead of 0.4342. nbval compares outputs byte for byte, so before it does, `snap` replaces
every number of the fresh output that is *within tolerance* of the stored one by the stored text. Whatever is left
different is a real difference, and nbval reports it with its usual diff.

The tolerance (one place, stated in the README):
- **Printed numbers** (stdout, text, HTML, and numbers inside figure strings such as hover text) match when
  `|new - stored| <= RTOL * |stored| + one unit of the stored number's last printed decimal`. Integers
  (no decimal point) get no unit: `8/8` never matches `7/8`, a count of 4,096 allows ±40.
- **Figure data** (each numeric array of a plotly figure: x, y, z, in every trace and animation frame) matches
  when every element is within `RTOL` of the largest magnitude that key (`x`, `y`, ...) reaches anywhere in the
  figure, plus 1e-4 because figure data is stored rounded to 4 decimals: 1% of an axis's range is below what
  the eye can tell apart on the plot. Colours computed from data (`rgb(r, g, b)`)
  may move by 1% of 255 per channel.
- Everything else (words, ✓ and ✗, the number of outputs, traces and numbers, list lengths, keys) must be equal.

Why 1%: across the machines we simulate (AVX-512 vs AVX2, 2 threads vs 1) the largest change seen in any output
is under 0.2% of its scale; 1% leaves room for other CPUs while a result that changes in substance (a loss x1.5,
a figure scaled, a check turned from ✓ to ✗, a count 8 -> 5) is still caught. tests/test_tolerance.py shows both.
"""

from __future__ import annotations

import math
import re
from typing import Any

#: Relative tolerance for every number and figure array (see the module docstring for why 1%).
RTOL = 0.01
#: Figure data is written rounded to 4 decimals (utils/plotting.py), so two values may differ by one such unit.
FIGURE_ATOL = 1e-4
#: One colour channel (0-255) may move by this much.
COLOUR_ATOL = 0.01 * 255

# A number as Python prints it: optional sign (only where it cannot be a minus between two operands), digits,
# decimals, exponent. Digits glued to letters (`W1`, `l1_coeff`, hex) are words, not numbers.
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w])")
_COLOUR = re.compile(r"^rgba?\(([^)]*)\)$")


def _unit(text: str) -> float:
    """One unit of the last printed decimal of `text` (0 for an integer)."""
    mantissa, _, exponent = text.lower().partition("e")
    if "." not in mantissa:
        return 0.0 if not exponent else 10.0 ** int(exponent)
    decimals = len(mantissa.split(".")[1])
    return 10.0 ** (-decimals + (int(exponent) if exponent else 0))


def numbers_match(stored: str, new: str) -> bool:
    """Two printed numbers are the same result, as far as the printed precision and RTOL can tell."""
    a, b = float(stored), float(new)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if ("." in stored) != ("." in new):  # an integer turned into a float or back is a change of kind
        return False
    return abs(a - b) <= RTOL * abs(a) + _unit(stored) + 1e-12


def snap_text(stored: str, new: str) -> str:
    """`new` with each number that matches `stored`'s number at the same place replaced by `stored`'s text.

    When the words around the numbers differ, or the count of numbers does, nothing is replaced: the outputs
    differ in substance and the caller reports it."""
    if stored == new:
        return new
    s_words, n_words = _NUMBER.split(stored), _NUMBER.split(new)
    if s_words != n_words:
        return new
    s_nums, n_nums = _NUMBER.findall(stored), _NUMBER.findall(new)
    out = [n_words[0]]
    for word, s_num, n_num in zip(n_words[1:], s_nums, n_nums, strict=True):
        out += [s_num if numbers_match(s_num, n_num) else n_num, word]
    return "".join(out)


def _snap_colour(stored: str, new: str) -> str | None:
    s, n = _COLOUR.match(stored), _COLOUR.match(new)
    if not (s and n) or stored[:4] != new[:4]:
        return None
    s_ch, n_ch = [float(x) for x in s.group(1).split(",")], [float(x) for x in n.group(1).split(",")]
    close = len(s_ch) == len(n_ch) and all(abs(a - b) <= COLOUR_ATOL for a, b in zip(s_ch, n_ch, strict=True))
    return stored if close else new


def _is_number(x: Any) -> bool:
    return (isinstance(x, (int, float)) and not isinstance(x, bool)) or x is None


def _flat_numbers(x: Any) -> list | None:
    """The numbers of a (nested) list of numbers, flattened; None if it holds anything else."""
    if _is_number(x):
        return [x]
    if not isinstance(x, list):
        return None
    out = []
    for item in x:
        flat = _flat_numbers(item)
        if flat is None:
            return None
        out += flat
    return out


def _same_shape(a: Any, b: Any) -> bool:
    if isinstance(a, list) != isinstance(b, list):
        return False
    if not isinstance(a, list):
        return True
    return len(a) == len(b) and all(_same_shape(x, y) for x, y in zip(a, b, strict=True))


def _largest(values: list) -> float:
    return max((abs(v) for v in values if v is not None and math.isfinite(v)), default=0.0)


def figure_scales(figure: dict) -> dict[str, float]:
    """The largest magnitude of each data key (x, y, z, ...) over all of a figure's traces and frames: the range
    of what its axes show, against which a point's movement is judged."""
    scales: dict[str, float] = {}
    traces = list(figure.get("data", [])) + [t for f in figure.get("frames", []) for t in f.get("data", [])]
    for trace in traces:
        for key, value in trace.items() if isinstance(trace, dict) else []:
            flat = _flat_numbers(value) if isinstance(value, list) else None
            if flat is not None:
                scales[key] = max(scales.get(key, 0.0), _largest(flat))
    return scales


def arrays_match(stored: list, new: list, scale: float | None = None) -> bool:
    """Figure data: every element within RTOL of `scale` (the figure's range on that axis; by default the
    stored array's largest magnitude), plus FIGURE_ATOL."""
    s, n = _flat_numbers(stored), _flat_numbers(new)
    if s is None or n is None or not _same_shape(stored, new):
        return False
    scale = _largest(s) if scale is None else scale
    for a, b in zip(s, n, strict=True):
        if (a is None) != (b is None):
            return False
        if a is None or a == b:
            continue
        if not (math.isfinite(a) and math.isfinite(b)) or abs(a - b) > RTOL * scale + FIGURE_ATOL:
            return False
    return True


def _is_figure(x: Any) -> bool:
    return isinstance(x, dict) and isinstance(x.get("data"), list) and all(isinstance(t, dict) for t in x["data"])


def snap(stored: Any, new: Any, scales: dict[str, float] | None = None, key: str = "") -> Any:
    """`new` (an output's data: text, or a figure's JSON) with every part that matches `stored` within tolerance
    replaced by `stored`'s, so that only differences in substance are left for nbval to report. Inside a plotly
    figure, an array under key `x` is judged against the figure's whole range of `x` (`scales`)."""
    if isinstance(stored, str) and isinstance(new, str):
        colour = _snap_colour(stored, new)
        return colour if colour is not None else snap_text(stored, new)
    if isinstance(stored, list) and isinstance(new, list):
        if _flat_numbers(stored) is not None and _flat_numbers(new) is not None:
            return stored if arrays_match(stored, new, (scales or {}).get(key)) else new
        if len(stored) != len(new):
            return new
        return [snap(s, n, scales, key) for s, n in zip(stored, new, strict=True)]
    if isinstance(stored, dict) and isinstance(new, dict):
        if stored.keys() != new.keys():
            return new
        if _is_figure(stored):
            scales = figure_scales(stored)
        # The layout (titles, annotation positions, axis ranges) is judged by each value's own magnitude.
        return type(new)({k: snap(stored[k], v, None if k == "layout" else scales, k) for k, v in new.items()})
    if _is_number(stored) and _is_number(new) and stored is not None and new is not None:
        return stored if arrays_match([stored], [new], (scales or {}).get(key)) else new
    return new


def snap_outputs(stored: list, new: list, sanitize=lambda s: s) -> list:
    """A cell's fresh outputs, snapped output by output onto its stored outputs (nbval then compares them).

    Outputs are paired by position and kind; a cell whose outputs differ in number or kind is left alone.
    `sanitize` (nbval's regex replacements) is applied to both sides' text first, so that a process id or a
    path does not hide the numbers around it."""
    clean = lambda x: sanitize(x) if isinstance(x, str) else x  # noqa: E731
    if len(stored) != len(new):
        return new
    snapped = []
    for s, n in zip(stored, new, strict=True):
        n = type(n)(n)  # never modify nbval's objects in place
        if s.get("output_type") != n.get("output_type"):
            snapped.append(n)
            continue
        if "text" in s and "text" in n:
            n["text"] = snap(clean(s["text"]), clean(n["text"]))
        if "data" in s and "data" in n:
            n["data"] = type(n["data"])({k: snap(clean(s["data"][k]), clean(v)) if k in s["data"] else v
                                          for k, v in n["data"].items()})
        snapped.append(n)
    return snapped


def first_difference(stored: Any, new: Any, where: str = "", scales: dict[str, float] | None = None,
                     key: str = "") -> str | None:
    """Where `new` first differs from `stored` beyond tolerance, in words (None if it does not)."""
    here = where or "the output"
    if isinstance(stored, str) and isinstance(new, str):
        snapped = snap(stored, new)
        if snapped == stored:
            return None
        if _NUMBER.split(stored) != _NUMBER.split(new):
            i = next((i for i, (a, b) in enumerate(zip(stored, new, strict=False)) if a != b),
                     min(len(stored), len(new)))
            around = slice(max(0, i - 30), i + 30)
            return f"{here}: the text differs at character {i}: {stored[around]!r} vs {new[around]!r}"
        for s_num, n_num in zip(_NUMBER.findall(stored), _NUMBER.findall(new), strict=True):
            if not numbers_match(s_num, n_num):
                return f"{here}: stored {s_num}, now {n_num} (tolerance {RTOL:.0%} + one unit of the last digit)"
        return f"{here}: differs"
    if isinstance(stored, list) and isinstance(new, list):
        s_flat, n_flat = _flat_numbers(stored), _flat_numbers(new)
        if s_flat is not None and n_flat is not None:
            scale = (scales or {}).get(key, _largest(s_flat))
            if arrays_match(stored, new, scale):
                return None
            if len(s_flat) != len(n_flat) or not _same_shape(stored, new):
                return f"{here}: {len(s_flat)} numbers stored, {len(n_flat)} now"
            worst = max(range(len(s_flat)), key=lambda i: abs((s_flat[i] or 0) - (n_flat[i] or 0)))
            return (f"{here}: element {worst} stored {s_flat[worst]}, now {n_flat[worst]}; allowed"
                    f" {RTOL * scale + FIGURE_ATOL:.3g} ({RTOL:.0%} of the largest value {scale:.3g} on this axis)")
        if len(stored) != len(new):
            return f"{here}: {len(stored)} items stored, {len(new)} now"
        for i, (s, n) in enumerate(zip(stored, new, strict=True)):
            found = first_difference(s, n, f"{where}[{i}]", scales, key)
            if found:
                return found
        return None
    if isinstance(stored, dict) and isinstance(new, dict):
        if stored.keys() != new.keys():
            return f"{here}: keys {sorted(stored)} stored, {sorted(new)} now"
        scales = figure_scales(stored) if _is_figure(stored) else scales
        for k in stored:
            found = first_difference(stored[k], new[k], f"{where}.{k}" if where else k,
                                     None if k == "layout" else scales, k)
            if found:
                return found
        return None
    return None if snap(stored, new, scales, key) == stored else f"{here}: stored {stored!r}, now {new!r}"


def describe_difference(stored: list, new: list, sanitize=lambda s: s) -> str | None:
    """For a failed cell: where its fresh outputs first differ from the stored ones beyond tolerance, in words
    (nbval's own diff of a large figure only says that some item differs)."""
    def comparable(outputs: list) -> list:
        return [{k: sanitize(o[k]) if isinstance(o[k], str) else o[k] for k in ("output_type", "name", "text", "data")
                 if k in o} for o in outputs]
    return first_difference(comparable(stored), comparable(new), "outputs")
