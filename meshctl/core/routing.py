"""Routes: which subset of a service's instances a call goes to.

A route table belongs to one service. It names **subsets** by instance
labels (``version``, ``zone`` or any metadata key an instance registered
with) and holds **rules**, tried in order: the first whose match holds (method,
request headers, calling service) picks a subset, by weight when it splits
traffic (95 % ``stable``, 5 % ``canary``). A subset with no instance left
falls back to the whole service, unless the table says ``fallback: none``.

Everything here is pure and cheap per call: a table is validated once, when
it is written (``parse_table``), and a subset's instances, and the caller's
zone's share of them, are worked out once per registry view (``SubsetCache``),
not per call: a scan of a view of 1,000 instances costs tens of µs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from meshctl.core.endpoint import HealthStatus, ServiceEndpoint
from meshctl.core.units import parse_duration

_FIELDS = {"version", "zone"}  # labels read from the endpoint's own fields


class RouteError(ValueError):
    """A route table that cannot be used; the message names the offending part."""


@dataclass(frozen=True, slots=True)
class Subset:
    name: str
    labels: tuple[tuple[str, str], ...]

    def holds(self, endpoint: ServiceEndpoint) -> bool:
        for key, value in self.labels:
            actual = getattr(endpoint, key) if key in _FIELDS else endpoint.metadata.get(key)
            if actual != value:
                return False
        return True


@dataclass(frozen=True, slots=True)
class Rule:
    """``splits`` is ((subset, cumulative weight), ...), weights summing to 100."""

    method: str | None
    headers: tuple[tuple[str, str], ...]
    caller: str | None
    splits: tuple[tuple[str, float], ...]
    timeout: float | None = None
    attempts: int | None = None

    def matches(self, method: str, headers: Mapping[str, str], caller: str | None) -> bool:
        """``headers``' names in lower case, as the mesh client sends them."""
        if self.method is not None and self.method != method:
            return False
        if self.caller is not None and self.caller != caller:
            return False
        if not self.headers:
            return True
        for name, value in self.headers:  # a loop, not all(): no generator per call
            if headers.get(name) != value:
                return False
        return True

    def pick(self, roll: float) -> str:
        """The subset for ``roll`` in [0, 100)."""
        for subset, upto in self.splits:
            if roll < upto:
                return subset
        return self.splits[-1][0]


@dataclass(frozen=True, slots=True)
class Decision:
    subset: Subset | None  # None: any instance
    timeout: float | None
    attempts: int | None
    fallback: bool  # may the whole service serve when the subset has no instance


@dataclass(frozen=True, slots=True)
class RouteTable:
    service: str
    subsets: Mapping[str, Subset]
    rules: tuple[Rule, ...]
    fallback: bool = True
    revision: int = 0
    document: Mapping[str, Any] = field(default_factory=dict, compare=False)
    # each rule's decisions by subset name, built once: a frozen dataclass costs ~0.5 µs to make
    _decisions: tuple[Mapping[str, Decision], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        decisions = tuple(
            {name: Decision(self.subsets[name], rule.timeout, rule.attempts, self.fallback)
             for name, _ in rule.splits}
            for rule in self.rules
        )  # fmt: skip
        object.__setattr__(self, "_decisions", decisions)

    def decide(
        self,
        method: str,
        headers: Mapping[str, str],
        caller: str | None,
        rng: random.Random | None = None,
    ) -> Decision | None:
        """The first matching rule's choice; None when no rule matches (any instance).
        ``headers``' names are in lower case, as the mesh client sends them."""
        for rule, decisions in zip(self.rules, self._decisions, strict=True):
            if rule.matches(method, headers, caller):
                roll = (rng or random).random() * 100 if len(rule.splits) > 1 else 0.0
                return decisions[rule.pick(roll)]
        return None


class SubsetCache:
    """The instances calls may use out of one registry view, worked out once per view and
    zone: each subset's, narrowed to the caller's zone (``prefer_zone``) when it has one.

    Registry views keep their identity until their content changes (an instance's health
    included), so the cache holds the latest view's results only: keep one per service."""

    def __init__(self) -> None:
        self._view: Sequence[ServiceEndpoint] | None = None
        self._zone: str | None = None
        self._found: dict[Subset | None, Sequence[ServiceEndpoint]] = {}

    def instances(
        self, view: Sequence[ServiceEndpoint], subset: Subset | None, zone: str | None = None
    ) -> Sequence[ServiceEndpoint]:
        """``subset``'s instances in ``view`` (None: all of them), of those the zone's
        while it has capacity. Empty exactly when the subset has no instance."""
        if view is not self._view or zone != self._zone:
            self._view, self._zone, self._found = view, zone, {}
        found = self._found.get(subset)
        if found is None:
            chosen = view if subset is None else tuple(ep for ep in view if subset.holds(ep))
            found = self._found[subset] = chosen if zone is None else prefer_zone(chosen, zone)
        return found


def route(
    view: Sequence[ServiceEndpoint],
    decision: Decision | None,
    cache: SubsetCache,
    zone: str | None = None,
) -> Sequence[ServiceEndpoint]:
    """The instances a call with ``decision`` may use: its subset's, or with none left and
    fallback allowed, the whole view; of those, the caller's ``zone``'s (``prefer_zone``).
    The same view gives the same sequence (identical), so balancers keep what they built."""
    if decision is None or decision.subset is None:
        return view if zone is None else cache.instances(view, None, zone)
    chosen = cache.instances(view, decision.subset, zone)
    if chosen or not decision.fallback:
        return chosen
    return view if zone is None else cache.instances(view, None, zone)


def prefer_zone(
    view: Sequence[ServiceEndpoint], zone: str | None, spill_below: float = 0.5
) -> Sequence[ServiceEndpoint]:
    """The caller's zone's instances while at least ``spill_below`` of them are not known
    unhealthy; otherwise (spill-over) every instance. Zone-aware routing as Envoy's:
    local while local capacity holds, the other zones when it does not. Scans the whole
    view: per call, go through ``route`` and its cache."""
    if zone is None:
        return view
    local = [ep for ep in view if ep.zone == zone]
    if not local:
        return view
    up = [ep for ep in local if ep.health_status is not HealthStatus.UNHEALTHY]
    if len(up) < spill_below * len(local) or not up:
        return view
    return up


# -- parsing and validation ------------------------------------------------------------

_TABLE_KEYS = {"service", "subsets", "rules", "fallback"}
_RULE_KEYS = {"match", "route", "timeout", "attempts"}
_MATCH_KEYS = {"method", "headers", "caller"}


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RouteError(f"{where} must be a mapping, not {type(value).__name__}")
    return value


def _known(data: Mapping[str, Any], keys: set[str], where: str) -> None:
    unknown = sorted(set(map(str, data)) - keys)
    if unknown:
        raise RouteError(
            f"{where}: unknown key {unknown[0]!r} (expected {', '.join(sorted(keys))})"
        )


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
        raise RouteError(f"{where} must be a non-empty string")
    return str(value)


def _labels(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    labels = _mapping(value, where)
    if not labels:
        raise RouteError(f"{where} needs at least one label (e.g. version: 0.2.0)")
    return tuple(sorted((_text(k, where), _text(v, f"{where}.{k}")) for k, v in labels.items()))


def _splits(value: Any, where: str, subsets: Mapping[str, Subset]) -> tuple[tuple[str, float], ...]:
    if isinstance(value, str):  # route: canary
        value = [{"subset": value, "weight": 100}]
    if not isinstance(value, list) or not value:
        raise RouteError(f"{where} must name a subset or list subsets with weights")
    splits, total, seen = [], 0.0, set()
    for i, item in enumerate(value):
        here = f"{where}[{i}]"
        item = _mapping(item, here)
        _known(item, {"subset", "weight"}, here)
        name = _text(item.get("subset"), f"{here}.subset")
        if name not in subsets:
            known = ", ".join(sorted(subsets)) or "none"
            raise RouteError(f"{here}.subset {name!r} is not defined (subsets: {known})")
        if name in seen:
            raise RouteError(f"{here}.subset {name!r} is listed twice")
        seen.add(name)
        weight = item.get("weight", 100 if len(value) == 1 else None)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
            raise RouteError(f"{here}.weight must be a positive number, not {weight!r}")
        total += float(weight)
        splits.append((name, total))
    if not math.isclose(total, 100.0, abs_tol=1e-9):
        raise RouteError(f"{where}: weights add up to {total:g}, not 100")
    return tuple(splits)


def _rule(value: Any, where: str, subsets: Mapping[str, Subset]) -> Rule:
    data = _mapping(value, where)
    _known(data, _RULE_KEYS, where)
    match = _mapping(data.get("match", {}), f"{where}.match")
    _known(match, _MATCH_KEYS, f"{where}.match")
    headers = _mapping(match.get("headers", {}), f"{where}.match.headers")
    timeout = data.get("timeout")
    seconds: float | None = None
    if timeout is not None:
        try:
            seconds = parse_duration(str(timeout))
        except ValueError as exc:
            raise RouteError(f"{where}.timeout: {exc}") from None
        if seconds <= 0:
            raise RouteError(f"{where}.timeout must be positive")
    attempts = data.get("attempts")
    if attempts is not None and (
        isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1
    ):
        raise RouteError(f"{where}.attempts must be a whole number of at least 1")
    if "route" not in data:
        raise RouteError(f"{where} needs a route (a subset, or subsets with weights)")
    return Rule(
        method=_text(match["method"], f"{where}.match.method") if "method" in match else None,
        headers=tuple(
            sorted(
                (_text(k, f"{where}.match.headers").lower(), _text(v, f"{where}.match.headers.{k}"))
                for k, v in headers.items()
            )
        ),  # fmt: skip
        caller=_text(match["caller"], f"{where}.match.caller") if "caller" in match else None,
        splits=_splits(data["route"], f"{where}.route", subsets),
        timeout=seconds,
        attempts=attempts,
    )


def parse_table(document: Any, revision: int = 0) -> RouteTable:
    """The route table ``document`` (as YAML or JSON would load it) describes.

    Raises:
        RouteError: naming the first part that is wrong.
    """
    data = _mapping(document, "the route table")
    _known(data, _TABLE_KEYS, "the route table")
    service = _text(data.get("service"), "service")
    subsets = {
        _text(name, "subsets"): Subset(str(name), _labels(labels, f"subsets.{name}"))
        for name, labels in _mapping(data.get("subsets", {}), "subsets").items()
    }
    rules = data.get("rules")
    if not isinstance(rules, list) or not rules:
        raise RouteError("rules must list at least one rule")
    fallback = data.get("fallback", "any")
    if fallback not in ("any", "none"):
        raise RouteError(f"fallback must be 'any' or 'none', not {fallback!r}")
    return RouteTable(
        service=service,
        subsets=subsets,
        rules=tuple(_rule(r, f"rules[{i}]", subsets) for i, r in enumerate(rules)),
        fallback=fallback == "any",
        revision=revision,
        document=dict(data),
    )


def split_document(service: str, weights: Mapping[str, int | float]) -> dict[str, Any]:
    """The table ``meshctl route split SERVICE v0.1.0=95 v0.2.0=5`` writes: one subset per
    version (``v`` optional), one rule splitting every call."""
    subsets = {name: {"version": name.removeprefix("v")} for name in weights}
    route = [{"subset": name, "weight": weight} for name, weight in weights.items()]
    return {"service": service, "subsets": subsets, "rules": [{"route": route}]}


def describe(table: RouteTable) -> list[str]:
    """One line per rule, as ``meshctl route list`` and ``top`` show it:
    ``match -> subset weight%, ... [timeout Ns] [attempts N]``."""
    lines = []
    for rule in table.rules:
        match = [f"method={rule.method}"] if rule.method else []
        match += [f"{k}={v}" for k, v in rule.headers]
        match += [f"caller={rule.caller}"] if rule.caller else []
        previous, parts = 0.0, []
        for subset, upto in rule.splits:
            parts.append(f"{subset} {upto - previous:g}%")
            previous = upto
        extra = f" timeout {rule.timeout:g}s" if rule.timeout else ""
        extra += f" attempts {rule.attempts}" if rule.attempts else ""
        lines.append(f"{' '.join(match) or 'any call'} -> {', '.join(parts)}{extra}")
    return lines
