"""The whole suite's fixtures come from meshctl's own pytest plugin.

Real infrastructure: Redis at MESH_TEST_REDIS_URL (default 127.0.0.1:6379),
the embedded Kafka-protocol broker (or MESH_KAFKA_BOOTSTRAP), PostgreSQL at
MESH_TEST_POSTGRES_URL. Every test gets its own key and topic prefixes.
"""

pytest_plugins: list[str] = ["meshctl.testing.pytest_plugin"]
