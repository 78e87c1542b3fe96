"""``doctor bench`` options: validation of the values, and the inspector variants by name.

Every function here is pure; a wrong value raises :class:`BenchOptionError` naming the
option, the value and what is allowed (the command line turns it into an argparse error).

Variants are inspector option sets, named on the command line (``--variants``):

- ``default``: the inspector as it is constructed by default;
- ``serial``: one worker (``concurrency=1``);
- ``threads<N>``: a pool of N workers (``concurrency=N``), e.g. ``threads16``;
- ``shortcut``: the inspector also publishes ``compute.instance.update`` itself
  (``shortcut=True``);
- ``strategy-<name>``: the inspector's ``strategy`` option (``service_first``,
  ``parallel``, ``at_once``: the predecessor's design);
- ``pace<N>``: at most N resets in flight after the shortcut's notifications
  (``shortcut_pace=N``);
- ``ports<N>``: at most N port updates in flight (``port_pace=N``).

Names combine with ``+`` (``shortcut+threads32``). Whether the inspector accepts a
variant's options is checked against its constructor (:func:`unsupported`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from doctor_tests.inspector.core import STRATEGIES

DEFAULT_COUNTS = (1, 10, 20, 50, 200, 500)
DEFAULT_RUNS = 5
DEFAULT_VARIANTS = ("default", "shortcut")
DEFAULT_SOAK_MINUTES = 10.0
# beside the variants: the other orders of a round (at_once is the predecessor's design),
# fewer threads, and the shortcut's pace (docs/inspector.md)
DEFAULT_STRATEGIES = ("strategy-parallel", "strategy-at_once", "threads4", "shortcut+pace8")
# servers: one (the predecessor's design against ours), and 50 (where the seed measured
# serial against threads)
DEFAULT_STRATEGIES_AT = (1, 50)
DEFAULT_CEILING_REPEATS = 3  # per ceiling finalist: one noisy sample cannot move a median of 3
MAX_COUNT = 5000
MAX_THREADS = 1024

_FIXED: dict[str, dict[str, Any]] = {
    "default": {},
    "serial": {"concurrency": 1},
    "shortcut": {"shortcut": True},
}
_THREADS = re.compile(r"threads(\d+)\Z")
_STRATEGY = re.compile(r"strategy-([a-z][a-z0-9_]*)\Z")
_PACE = re.compile(r"pace(\d+)\Z")
_PORTS = re.compile(r"ports(\d+)\Z")
ALLOWED_VARIANTS = "default, serial, shortcut, threads<N>, pace<N>, ports<N> (N 1..%d), " \
                   "strategy-<%s>; combined with + (shortcut+threads32)" % (
                       MAX_THREADS, "|".join(STRATEGIES))


class BenchOptionError(ValueError):
    """An option's value is not valid; names the option, the value and what is allowed."""

    def __init__(self, option: str, value: object, allowed: str) -> None:
        self.option, self.value, self.allowed = option, value, allowed
        super().__init__("%s: %r is not valid; allowed: %s" % (option, value, allowed))


@dataclass(frozen=True)
class Variant:
    """A named set of inspector options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def is_shortcut(self) -> bool:
        return bool(self.options.get("shortcut"))


def parse_counts(text: str, option: str = "--counts") -> tuple[int, ...]:
    """``"1,10,50"`` -> (1, 10, 50): positive whole numbers, sorted, each once."""
    allowed = "comma-separated whole numbers from 1 to %d, e.g. 1,10,50" % MAX_COUNT
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise BenchOptionError(option, text, allowed)
    counts = set()
    for part in parts:
        if not part.isdigit() or not 1 <= int(part) <= MAX_COUNT:
            raise BenchOptionError(option, text, allowed)
        counts.add(int(part))
    return tuple(sorted(counts))


def parse_positive_int(text: str, option: str, maximum: int = 1000) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= maximum:
        raise BenchOptionError(option, text, "a whole number from 1 to %d" % maximum)
    return int(text)


def parse_non_negative_int(text: str, option: str, maximum: int = 1_000_000) -> int:
    if not text.strip().isdigit() or int(text) > maximum:
        raise BenchOptionError(option, text, "a whole number from 0 to %d" % maximum)
    return int(text)


def _non_negative_float(text: str, option: str, allowed: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BenchOptionError(option, text, allowed) from None
    if not math.isfinite(value) or value < 0:
        raise BenchOptionError(option, text, allowed)
    return value


def parse_minutes(text: str, option: str = "--soak-minutes") -> float:
    """Minutes as a number >= 0 (0 skips); fractions allowed (0.2 = 12 s)."""
    return _non_negative_float(text, option, "a number of minutes >= 0 (0 skips), e.g. 10 or 0.5")


def parse_seconds(text: str, option: str) -> float:
    return _non_negative_float(text, option, "a number of seconds >= 0")


def _variant_part(part: str, option: str) -> dict[str, Any]:
    if part in _FIXED:
        return dict(_FIXED[part])
    match = _THREADS.match(part)
    if match and 1 <= int(match.group(1)) <= MAX_THREADS:
        return {"concurrency": int(match.group(1))}
    match = _PACE.match(part)
    if match and 1 <= int(match.group(1)) <= MAX_THREADS:
        return {"shortcut_pace": int(match.group(1))}
    match = _PORTS.match(part)
    if match and 1 <= int(match.group(1)) <= MAX_THREADS:
        return {"port_pace": int(match.group(1))}
    match = _STRATEGY.match(part)
    if match and match.group(1) in STRATEGIES:
        return {"strategy": match.group(1)}
    raise BenchOptionError(option, part, ALLOWED_VARIANTS)


def parse_variant(name: str, option: str = "--variants") -> Variant:
    """One variant name (parts joined by +) -> its inspector options."""
    options: dict[str, Any] = {}
    parts = name.strip().split("+")
    for part in parts:
        part_options = _variant_part(part.strip(), option)
        clash = set(part_options) & set(options)
        if clash:
            raise BenchOptionError(option, name, "%s; at most one part per inspector option "
                                   "(%s given twice)" % (ALLOWED_VARIANTS,
                                                         ", ".join(sorted(clash))))
        options.update(part_options)
    return Variant(name.strip(), options)


def parse_variants(text: str, option: str = "--variants") -> tuple[Variant, ...]:
    """``"default,shortcut"`` -> the variants, in order, each once; the first is the one
    the sweep's main figures come from."""
    names = [n.strip() for n in text.split(",")]
    if not text.strip() or any(not n for n in names):
        raise BenchOptionError(option, text, ALLOWED_VARIANTS)
    seen: dict[str, Variant] = {}
    for name in names:
        if name not in seen:
            seen[name] = parse_variant(name, option)
    return tuple(seen.values())


def parse_strategies(text: str, option: str = "--strategies") -> tuple[Variant, ...]:
    """Like :func:`parse_variants`, and ``none`` for no strategies."""
    if text.strip() == "none":
        return ()
    return parse_variants(text, option)


def unsupported(variant: Variant, accepted: Iterable[str]) -> str | None:
    """Why the inspector cannot run ``variant`` (options it does not accept), or None."""
    missing = sorted(set(variant.options) - set(accepted))
    if not missing:
        return None
    return "the Inspector constructor has no %s parameter" % ", ".join(missing)
