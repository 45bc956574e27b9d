"""Names of the registry's Redis keys and channel, kept in one place.

Layout under a prefix ``P`` (``mesh`` by default), for a service ``S``:

    P:services           set    names of services that may have live instances
    P:svc:S:records      hash   instance_id -> ServiceEndpoint JSON (static fields)
    P:svc:S:state        hash   instance_id -> JSON {status, detail, last_check, registered_at}
    P:svc:S:expiry       zset   instance_id -> expiry time (Redis server clock, seconds)
    P:events             pub/sub channel of change messages

and for the control plane (``control.py``):

    P:clients            hash   client_id -> report JSON
    P:clients:expiry     zset   client_id -> expiry (Redis server clock)
    P:control            pub/sub channel of command JSON
    P:control:ack:<id>   list   one JSON answer per client, expires after a minute
    P:control:forced     hash   service -> JSON {"at"}: breakers forced open mesh-wide

and for service-level objectives (``sli.py``):

    P:slos               hash   S or S/METHOD -> SLO JSON
    P:sli:S:m:<minute>   hash   METHOD|total, METHOD|failed, METHOD|w<i>: what S served
                                in that minute (w<i>: within the i-th latency edge); 7 h
    P:sli:S:h:<hour>     hash   the same per hour; kept 32 days

and for routes (``routes.py``):

    P:routes             hash   S -> JSON {revision, at, action, document}: the current table
    P:routes:S:history   list   the same records, newest first, the last 50
    P:routes:version     string a counter every change of any table increments

and for server-side faults (``faults.py``):

    P:faults             hash   fault id -> Fault JSON (``core.faults``), pruned when expired
    P:faults:version     string a counter every change of any fault increments

and for the span store (``spanstore.py``), every key expiring with its trace:

    P:trace:<trace_id>                  list   span record JSON, the trace's first spans
    P:trace:by-correlation:<corr_id>    set    trace ids of a correlation id

and for the auth service's revocations (``services/auth/revocation.py``):

    P:auth:revoked:<id>  string a revoked token or session id, expiring with the token

The Lua scripts in ``scripts.py`` build the same ``P:svc:S:*`` names for the
multi-service scripts; keep both in step.
"""

from __future__ import annotations

from typing import NamedTuple


def registry_key(prefix: str, *parts: str) -> str:
    """The key ``prefix:part1:part2...``; every registry key is named here."""
    return ":".join((prefix, *parts))


class ServiceKeys(NamedTuple):
    """The keys holding one service's instances, in the order the scripts expect."""

    records: str
    expiry: str
    state: str
    services: str


def service_keys(prefix: str, name: str) -> ServiceKeys:
    return ServiceKeys(
        records=registry_key(prefix, "svc", name, "records"),
        expiry=registry_key(prefix, "svc", name, "expiry"),
        state=registry_key(prefix, "svc", name, "state"),
        services=services_key(prefix),
    )


def services_key(prefix: str) -> str:
    return registry_key(prefix, "services")


def service_base(prefix: str) -> str:
    """The stem the multi-service scripts append ``:S:records`` etc. to."""
    return registry_key(prefix, "svc")


def events_channel(prefix: str) -> str:
    return registry_key(prefix, "events")


def report_keys(prefix: str) -> list[str]:
    """The control plane's report hash and its expiry set, in the order the scripts expect."""
    return [registry_key(prefix, "clients"), registry_key(prefix, "clients", "expiry")]


def control_channel(prefix: str) -> str:
    return registry_key(prefix, "control")


def ack_key(prefix: str, command_id: str) -> str:
    return registry_key(prefix, "control", "ack", command_id)


def forced_key(prefix: str) -> str:
    return registry_key(prefix, "control", "forced")


def slos_key(prefix: str) -> str:
    return registry_key(prefix, "slos")


def sli_key(prefix: str, service: str, resolution: str, bucket: int) -> str:
    """One bucket of what ``service`` served; ``resolution`` is ``m`` (minutes) or ``h``."""
    return registry_key(prefix, "sli", service, resolution, str(bucket))


def routes_key(prefix: str) -> str:
    return registry_key(prefix, "routes")


def route_history_key(prefix: str, service: str) -> str:
    return registry_key(prefix, "routes", service, "history")


def routes_version_key(prefix: str) -> str:
    return registry_key(prefix, "routes", "version")


def faults_key(prefix: str) -> str:
    return registry_key(prefix, "faults")


def faults_version_key(prefix: str) -> str:
    return registry_key(prefix, "faults", "version")


def trace_key(prefix: str, trace_id: str) -> str:
    return registry_key(prefix, "trace", trace_id)


def correlation_traces_key(prefix: str, correlation_id: str) -> str:
    return registry_key(prefix, "trace", "by-correlation", correlation_id)


def revoked_token_key(prefix: str, token_id: str) -> str:
    return registry_key(prefix, "auth", "revoked", token_id)
