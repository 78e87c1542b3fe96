"""The profile as JUnit properties (pytest's ``record_property``)::

    for name, value in junit_properties(profile):
        record_property(name, value)
"""

from __future__ import annotations

from doctor_tests.profiler.components import breakdown
from doctor_tests.profiler.model import NAMES, Profile


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _key(name: str) -> str:
    return name.replace("+", "_").replace("-", "_")


def junit_properties(profile: Profile) -> list[tuple[str, str]]:
    """``notification_ms``, ``fault_to_notification_ms``, ``verdict``, per checkpoint
    ``checkpoint_T05_ms`` / ``checkpoint_T05_source`` (or ``checkpoint_T05_missing``),
    per component ``component_inspector_ms`` / ``component_inspector_percent``."""
    props = [
        ("notification_ms", _ms(profile.notification_ms)),
        ("fault_to_notification_ms", _ms(profile.fault_to_notification_ms)),
        ("notification_threshold_ms", _ms(profile.threshold_ms)),
        ("verdict", profile.verdict or "UNKNOWN"),
    ]
    missing = profile.missing
    for name in NAMES:
        cp = profile.checkpoints.get(name)
        if cp is None:
            props.append((f"checkpoint_{name}_ms", ""))
            props.append((f"checkpoint_{name}_missing", missing[name]))
            continue
        props.append((f"checkpoint_{name}_ms", _ms(profile.ms(name))))
        props.append((f"checkpoint_{name}_source", cp.source))
        if cp.uncertainty_ms is not None:
            props.append((f"checkpoint_{name}_uncertainty_ms", _ms(cp.uncertainty_ms)))
    parts = breakdown(profile)
    for component in parts.by_cost():
        props.append((f"component_{_key(component.name)}_ms", _ms(component.ms)))
        props.append((f"component_{_key(component.name)}_percent", f"{component.percent:.1f}"))
    for violation in profile.order_violations():
        props.append((f"order_violation_{violation.earlier}_{violation.later}_ms",
                      _ms(violation.ms)))
    return props
