"""Generated artefacts of the command: docs/commands.md and the shell completion scripts.

``scripts/gen-docs`` and ``scripts/gen-completions`` run this module; tests
regenerate and compare, so a stale file fails the suite. Run as
``python -m meshctl.cli.docgen {docs|completions} [--check]``.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import typer
from typer.main import get_command

ROOT = Path(__file__).resolve().parents[2]
DOCS_FILE = ROOT / "docs" / "commands.md"
COMPLETION_FILES = {"bash": "meshctl.bash", "zsh": "_meshctl", "fish": "meshctl.fish"}

HEADER = """\
# meshctl command reference

Generated from the command's own help by `scripts/gen-docs`; do not edit by
hand. Every command that prints data takes `-o table|json|yaml`; every
command takes `-h` as well as `--help`, and `meshctl --version` prints the
version.

## Exit codes

| code | meaning |
|---|---|
| 0 | ok |
| 1 | the checked thing failed (call error, SLO missed, check failed, no instance) |
| 2 | bad usage or bad input (flags, arguments, config file) |
| 3 | infrastructure unreachable (Redis, Kafka), or no mesh to check (`check`) |

Errors are one `error: ...` line on stderr, with a `hint: ...` line where
one helps; `--debug` adds the traceback.

## JSON output

JSON is for scripts: keys are sorted, absent values are `null`, times are
unix seconds, and YAML (`-o yaml`) carries the same data. A command's table
shows a subset of the same rows.

- `config view`: `[{"key", "value", "source"}]`, one row per setting;
  `source` is `flag`, `env`, `config:NAME`, `up` or `default`.
- `config get-contexts`: `[{"name", "current", <the context's settings>}]`.
- `services list`: `[{"service", "instances", "healthy"}]`.
- `services discover NAME`: `[{"service", "instance_id", "host", "port",
  "address", "protocol", "health", "breaker", "weight", "zone", "version",
  "metadata", "registered_at", "last_check", "age_seconds"}]`; `breaker` is
  `-` where no breaker state is known.
- `services register`: `[{"service", "instance_id", "address", "ttl"}]`.
- `services health [NAME]`: `[{"service", "healthy", "total", "status"}]`,
  `status` one of `ok`, `degraded`, `down` (no healthy instance: exit 1).
- `call SERVICE METHOD`: the reply itself (JSON by default; `-v` and
  `--trace` write to stderr so stdout stays the reply); `-o table` shows one
  KEY/VALUE row per field, nested fields as paths (`alert.deliveries[0].channel`).
- `describe SERVICE`: `[{"service", "grpc_service", "method", "path",
  "request_type", "response_type", "streaming"}]`; for an HTTP service
  `[{"service", "method", "route"}]`.
- `describe SERVICE METHOD`: `{"service", "grpc_service", "method", "path",
  "request_type", "response_type", "request_fields", "response_fields",
  "template"}`, fields as `[{"name", "number", "type"}]`; for an HTTP route
  `{"service", "method", "route", "template"}`.
- `breakers status`: `[{"client", "client_id", "service", "scope",
  "instance_id", "endpoint", "state", "failures", "error_percentage",
  "window_requests", "trips", "opened_at", "open_for", "half_open_in"}]`;
  `scope` is `service` or `endpoint`.
- `breakers reset|open|close`: `[{"client_id", "name", "changes": [{"breaker",
  "from", "to"}]}]`, one per client that answered (`[]` when none runs).
- `events tail`: one JSON object per line, `{"event_id", "event_type",
  "source", "occurred_at", "correlation_id", "trace_id", "data", "topic",
  "partition", "offset", "malformed", "error"}`; YAML is one document per event.
- `events publish`: the same object without `malformed`/`error`, plus `timestamp_ms`.
- `check`: `{"version": 1, "passed", "exit_code", "failed",
  "elapsed_seconds", "attempts", "checks": [{"check", "status", "detail",
  "hint"}]}`; `status` one of `pass`, `warn`, `fail`; a `service:NAME` check
  adds `"service", "healthy", "instances", "expected"` (`expected` null for a
  service not named on the command line). See docs/operations.md.
- `top --once`: `{"at", "clients", "services": [{"service", "breaker",
  "healthy", "total", "callers", "callees", "requests", "rps",
  "success_rate", "p50_ms", "p95_ms", "p99_ms", "active", "errors",
  "instances": [{"instance_id", "address", "protocol", "health", "breaker",
  "weight", "zone", "version", "metadata", "registered_at", "age_seconds",
  "last_check", <the same metrics>}]}], "edges": [{"caller", "callee",
  "rps", "success_rate", "p99_ms"}], "breakers": [{"client_id", "client",
  "service", "scope", "instance_id", "address", "state", "failures",
  "error_percentage", "trips", "half_open_in"}]}`; services in flow order
  (callers first), `rps` over the interval between two fetches (an edge's
  figures are those its callers' reports give); `-o table` prints one row
  per service and per instance.
- `workflow list`: `[{"name", "description", "parameters": [{"name",
  "help", "default"}]}]`.
- `workflow run NAME`: `{"workflow", "correlation_id", "trace_id",
  "status", "detail", "started_at", "finished_at", "duration", "steps":
  [{"name", "service", "method", "outcome", "duration", "endpoint",
  "instance_id", "error", "error_kind", "attempts", "summary"}], "events":
  [{"event_type", "event_id", "correlation_id", "occurred_at", "topic",
  "spooled"}], "output"}`; `status` is `completed` (exit 0), `degraded` or
  `failed` (exit 1); `outcome` is `ok`, `failed`, `skipped` or `degraded`.
- `loadtest SERVICE METHOD` (`-o table|json|csv`; no yaml): `{"meta":
  {"service", "method", "mode" (open|closed), "path" (mesh|direct),
  "concurrency", "schedule", "workers", "saved_at"}, "summary": {"requests",
  "ok", "failed", "not_started", "late", "elapsed_s", "rps", "error_rate",
  "status": {"OK" or error kind: count}, "latency_ms": {"min", "mean",
  "max", "p50", "p90", "p95", "p99", "p99.9"}, "endpoints": {instance_id:
  count}}, "slos": [{"slo", "actual", "met"}], "comparison": null or
  [{"metric", "baseline", "current", "change_pct", "regression"}]}`.
  `--save` writes `{"version", "meta", "summary", "errors", "elapsed",
  "histogram"}`
  (the HdrHistogram, base64) for `--compare`. SLO missed or no request
  succeeded: exit 1.
- `loadtest --all SERVICE` (`-o table|json|csv`): `[{"service", "method",
  "outcome", "detail", "meta", "summary", "slos"}]`, one entry per method
  in the order the service lists them; `meta`, `summary` and `slos` as for
  one METHOD (`null`, `null`, `[]` when skipped); `outcome` is `ok`,
  `missed` (an SLO), `failed` (no request succeeded), or `skipped` (its
  request refused as the caller's error, e.g. a login without credentials,
  or a streaming method); `detail` says why, `null` when `ok`. Exit 1 when
  a method missed or failed, or when every method was skipped.
- `demo`: `{"ok", "elapsed_s", "mesh": {"registry", "broker", "database",
  "prefix", "instances": {service: [{"instance_id", "address"}]},
  "webhook_deliveries"}, "workflows": {"ok", "violations", "alerts_sent",
  "runs": [{"camera_id", "correlation_id", "status", "detail",
  "duration_ms", "violations", "alerts_sent", "events", "steps": [{"name",
  "call", "outcome", "endpoint", "duration_ms"}]}]}, "breaker": {"ok",
  "config": {"failure_threshold", "timeout_duration", "success_threshold"},
  "victim", "restarted" ({"instance_id", "address"}), "opened",
  "closed_again", "failed_calls", "phases": [{"phase" (crashed|recovered),
  "calls", "ok", "failed", "errors", "served_by": {instance_id: count},
  "victim_breaker"}], "transitions": [{"from", "to", "at_s"}]}, "loadtest":
  {"ok", "service", "method", "concurrency", "duration_s", "requests",
  "failed", "rps", "latency_ms": {"p50", "p90", "p99", "max"}, "endpoints":
  {instance_id: count}}, "events": {"ok", "correlation_id", "count",
  "published", "in_order", "events": [{"event_type", "source",
  "occurred_at", "topic", "offset"}]}}`; a step that raised is `{"ok":
  false, "error"}`. Exit 0 when `ok`, else 1.
"""


def command_reference(app: typer.Typer) -> str:
    """Markdown for every command of ``app``: usage, help, arguments, options, subcommands."""
    root = get_command(app)
    ctx = typer.Context(root, info_name="meshctl")
    return HEADER + "".join(_sections(ctx))


def _sections(ctx: typer.Context) -> Iterator[str]:
    """The section of one command, then those of its subcommands in name order."""
    cmd = ctx.command
    yield f"\n## `{ctx.command_path}`\n\n"
    if cmd.help:
        yield inspect.cleandoc(cmd.help) + "\n\n"
    usage = " ".join([ctx.command_path, *cmd.collect_usage_pieces(ctx)])
    yield f"```text\n{usage}\n```\n"
    params = [p for p in cmd.get_params(ctx) if p.get_help_record(ctx) is not None]
    for kind, title in (("argument", "Argument"), ("option", "Option")):
        records = [p.get_help_record(ctx) for p in params if p.param_type_name == kind]
        if records:
            yield f"\n| {title} | Description |\n|---|---|\n"
            yield "".join(f"| `{_cell(n)}` | {_cell(h)} |\n" for n, h in filter(None, records))
    if isinstance(cmd, typer.core.TyperGroup):
        names = sorted(cmd.list_commands(ctx))
        subs = [(n, cmd.get_command(ctx, n)) for n in names]
        yield "\n| Command | Description |\n|---|---|\n"
        yield "".join(f"| `{n}` | {_cell(c.get_short_help_str(200))} |\n" for n, c in subs if c)
        for name, sub in subs:
            if sub is not None:
                yield from _sections(typer.Context(sub, info_name=name, parent=ctx))


def _cell(text: str) -> str:
    """Text fit for one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def completion_scripts() -> dict[str, str]:
    """The completion script of each shell by file name, as the command itself prints them."""
    scripts = {}
    for shell, name in COMPLETION_FILES.items():
        env = {**os.environ, "_MESHCTL_COMPLETE": f"source_{shell}"}
        done = subprocess.run(
            [sys.executable, "-m", "meshctl"], env=env, capture_output=True, text=True, check=True
        )
        scripts[name] = done.stdout.strip() + "\n"
    return scripts


def expected_files(what: str) -> dict[Path, str]:
    """The generated files of ``docs`` or ``completions`` and the content they should have."""
    if what == "docs":
        from meshctl.cli.app import app

        return {DOCS_FILE: command_reference(app)}
    return {ROOT / "completions" / n: t for n, t in completion_scripts().items()}


def stale_files(expected: dict[Path, str]) -> list[Path]:
    """The files whose content differs from what they should be."""
    return [p for p, text in expected.items() if not p.exists() or p.read_text() != text]


def main(argv: list[str]) -> int:
    """Write (or with ``--check`` only compare) the docs or the completion scripts."""
    what = argv[0] if argv else ""
    script = {"docs": "scripts/gen-docs", "completions": "scripts/gen-completions"}.get(what)
    if script is None:
        print("usage: python -m meshctl.cli.docgen {docs|completions} [--check]", file=sys.stderr)
        return 2
    files = expected_files(what)
    stale = stale_files(files)
    if "--check" in argv[1:]:
        if stale:
            names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
            print(f"stale: {names}; run {script}", file=sys.stderr)
            return 1
        return 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
