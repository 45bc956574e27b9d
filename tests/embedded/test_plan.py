from pathlib import Path

import pytest

from meshctl.embedded.plan import (
    SERVICES,
    ReplicaSpecError,
    RestartBudget,
    RestartPolicy,
    embedded_database_url,
    parse_replicas,
    plan_infrastructure,
    plan_processes,
)


def test_no_spec_runs_one_of_each():
    assert parse_replicas([]) == dict.fromkeys(SERVICES, 1)


def test_repeated_and_comma_separated_specs_combine():
    counts = parse_replicas(["analytics=3", "alert=2, auth=0"])
    assert counts == {"streaming": 1, "analytics": 3, "alert": 2, "auth": 0}


def test_later_spec_wins():
    assert parse_replicas(["analytics=3,analytics=2"])["analytics"] == 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("analytics", "expected NAME=N"),
        ("analytics=x", "expected NAME=N"),
        ("analytics=-1", "expected NAME=N"),
        ("=3", "expected NAME=N"),
        ("billing=2", "unknown service 'billing'"),
        ("analytics=17", "at most 16"),
        ("streaming=0,analytics=0,alert=0,auth=0", "no service"),
    ],
)
def test_bad_specs_are_rejected_with_a_clear_message(spec, message):
    with pytest.raises(ReplicaSpecError, match=message) as info:
        parse_replicas([spec])
    assert info.value.exit_code == 2


def test_infrastructure_comes_from_the_environment_when_set():
    plan = plan_infrastructure(
        {
            "MESH_REDIS_URL": "redis://r:1/0",
            "MESH_KAFKA_BOOTSTRAP": " ",
            "MESH_DATABASE_URL": "",
        }
    )
    assert plan.redis_url == "redis://r:1/0"
    assert plan.kafka_bootstrap is None
    assert plan.database_url is None


def test_processes_are_named_per_replica_and_point_at_the_mesh():
    specs = plan_processes(
        {"streaming": 1, "analytics": 2, "alert": 0, "auth": 1},
        python="/py",
        registry_url="redis://127.0.0.1:7000/0",
        prefix="p",
        kafka_bootstrap="127.0.0.1:9092",
        database_url="sqlite:///x.db",
        jwt_secret="shared-secret",
        admin_password="admin-pw",
    )
    assert {s.env["MESH_JWT_SECRET"] for s in specs} == {"shared-secret"}
    assert {s.env["MESH_ADMIN_PASSWORD"] for s in specs} == {"admin-pw"}
    assert not any("admin-pw" in arg or "shared-secret" in arg for s in specs for arg in s.argv)
    assert [s.name for s in specs] == [
        "streaming-1",
        "analytics-1",
        "analytics-2",
        "auth-1",
    ]
    analytics = specs[1]
    assert analytics.argv[:5] == ("/py", "-m", "meshctl", "serve", "analytics")
    assert analytics.argv[analytics.argv.index("--port") + 1] == "0"
    assert analytics.argv[analytics.argv.index("--prefix") + 1] == "p"
    # URLs may hold passwords: never on the command line, where ps shows them
    assert not any("://" in arg for arg in analytics.argv)
    assert analytics.env["MESH_REDIS_URL"] == "redis://127.0.0.1:7000/0"
    assert analytics.env["MESH_DATABASE_URL"] == "sqlite:///x.db"
    assert analytics.env["MESH_DATABASE_URL"] == "sqlite:///x.db"
    assert analytics.env["MESH_KAFKA_BOOTSTRAP"] == "127.0.0.1:9092"


def test_the_embedded_database_lives_in_the_run_dir(tmp_path: Path):
    assert embedded_database_url(tmp_path) == f"sqlite+aiosqlite:///{tmp_path}/{{service}}.db"


def test_restarts_back_off_exponentially_up_to_a_bound():
    budget = RestartBudget(RestartPolicy(initial=1, factor=2, maximum=5, max_restarts=4))
    delays = [budget.on_exit(started_at=0, now=1) for _ in range(5)]
    assert delays == [1, 2, 4, 5, None]


def test_a_child_that_stayed_up_long_enough_gets_a_fresh_budget():
    budget = RestartBudget(RestartPolicy(initial=1, max_restarts=2, stable_after=30))
    assert budget.on_exit(started_at=0, now=1) == 1
    assert budget.on_exit(started_at=2, now=3) == 2
    assert budget.on_exit(started_at=4, now=5) is None
    assert budget.on_exit(started_at=10, now=40) == 1
