"""Endpoint records and health states read back from Redis, checked before use.

A record that does not parse, or whose fields would break a caller later
(a host that is not text, an infinite weight), leaves its instance out. A
bad health state does not: the record still says where the instance
listens, so it is kept with its health unknown. Either way the outcome
carries a :class:`Problem` naming the key and instance.
"""

from __future__ import annotations

import json
import math
from typing import Any

from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.registry.keys import service_keys
from meshctl.registry.problems import Problem, brief, text

Parsed = tuple[ServiceEndpoint | None, Problem | None]
"""The endpoint (None when left out) and the problem found, if any."""


def parse_record(
    prefix: str, name: str, instance_id: bytes | str, record: Any, state: Any
) -> Parsed:
    """One endpoint from its record, with its health state overlaid."""
    iid = text(instance_id)
    keys = service_keys(prefix, name)
    try:
        if record is None:
            raise ValueError("record is missing")
        endpoint = ServiceEndpoint.from_json(record)
        _check_fields(endpoint)
        if endpoint.key != (name, iid):
            raise ValueError(f"record describes {brief(endpoint.key)}")
    except (ValueError, TypeError) as exc:
        return None, Problem(keys.records, iid, str(exc)[:200])
    if state is None:
        return endpoint, None
    try:
        _apply_state(endpoint, json.loads(state))
    except (ValueError, TypeError) as exc:
        endpoint.health_status = HealthStatus.UNKNOWN
        endpoint.last_check = None
        return endpoint, Problem(keys.state, iid, f"health unknown: {str(exc)[:200]}")
    return endpoint, None


def _check_fields(endpoint: ServiceEndpoint) -> None:
    """Refuse what ServiceEndpoint accepts from JSON but callers would trip over."""
    if not isinstance(endpoint.host, str) or not isinstance(endpoint.instance_id, str):
        raise ValueError("host and instance_id must be strings")
    for field in ("zone", "version"):
        if not isinstance(getattr(endpoint, field), str | None):
            raise ValueError(f"{field} must be a string")
    if not math.isfinite(endpoint.weight):
        raise ValueError(f"weight {endpoint.weight} is not a finite number")
    for field in ("registered_at", "last_check"):
        setattr(endpoint, field, _time(getattr(endpoint, field)))


def _time(value: Any) -> float | None:
    """A timestamp as a finite float, or None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"timestamp {brief(value)} is not a number")
    seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"timestamp {brief(value)} is not a finite number")
    return seconds


def _apply_state(endpoint: ServiceEndpoint, state: Any) -> None:
    """Overlay the health state (status, last check, registration time) on a record."""
    if not isinstance(state, dict):
        raise ValueError("health state is not a JSON object")
    endpoint.health_status = HealthStatus(state.get("status", HealthStatus.UNKNOWN))
    if "last_check" in state:
        endpoint.last_check = _time(state["last_check"])
    if "registered_at" in state:
        endpoint.registered_at = _time(state["registered_at"])
