"""Event bus throughput and publish-to-tail latency on the embedded broker.

Baselines in the same run: a raw aiokafka producer (send_and_wait one by one,
and send in batches) and a confluent-kafka producer. Best of ROUNDS.
Run: .venv/bin/python benchmarks/bench_events.py [--profile [awaited]]
``--profile`` prints where a fire-and-forget (or, with ``awaited``, a 1,000
concurrent awaited) publish run spends its time instead (pyinstrument).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from confluent_kafka import Producer

from meshctl.core.context import CorrelationContext
from meshctl.embedded import EmbeddedBroker
from meshctl.events.kafka import KafkaEventBus

N = 20_000
ROUNDS = 3
LATENCY_SAMPLES = 300
PAYLOAD = {"camera_id": "cam-017", "speed_kmh": 87.5, "lane": 2, "plate": "AB-123-CD"}


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f} events/s"


async def raw_send_and_wait(bootstrap: str, topic: str, n: int) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    value = json.dumps(PAYLOAD).encode()
    started = time.perf_counter()
    for _ in range(n):
        await producer.send_and_wait(topic, value, key=b"k")
    elapsed = time.perf_counter() - started
    await producer.stop()
    return elapsed


async def raw_batched(bootstrap: str, topic: str, n: int) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024
    )
    await producer.start()
    value = json.dumps(PAYLOAD).encode()
    started = time.perf_counter()
    futures = [await producer.send(topic, value, key=str(i % 64).encode()) for i in range(n)]
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - started
    await producer.stop()
    return elapsed


def confluent_batched(bootstrap: str, topic: str, n: int) -> float:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    value = json.dumps(PAYLOAD).encode()
    started = time.perf_counter()
    for i in range(n):
        while True:
            try:
                producer.produce(topic, value, key=str(i % 64).encode())
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(60)
    return time.perf_counter() - started


async def bus_concurrent(bus: KafkaEventBus, n: int, concurrency: int = 1000) -> float:
    """``n`` publishes, ``concurrency`` awaiting at once (each returns after acks=all)."""
    contexts = [CorrelationContext.new() for _ in range(64)]

    async def worker(count: int, k: int) -> None:
        for i in range(count):
            await bus.publish("frame.processed", PAYLOAD, contexts[(k + i) % 64])

    started = time.perf_counter()
    await asyncio.gather(*(worker(n // concurrency, k) for k in range(concurrency)))
    return time.perf_counter() - started


async def bus_fire_and_forget(bus: KafkaEventBus, n: int) -> float:
    contexts = [CorrelationContext.new() for _ in range(64)]
    started = time.perf_counter()
    for i in range(n):
        await bus.publish("frame.processed", PAYLOAD, contexts[i % 64])
    await bus.flush()
    return time.perf_counter() - started


async def publish_to_tail(bus: KafkaEventBus) -> tuple[list[float], float]:
    """Latency from publish() call to the event arriving at a following tail; tail start time."""
    cid = f"lat-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    # From "now" rather than "end": the marker event published below cannot be missed.
    tail = bus.tail(cid, ["violation.detected"], start=datetime.now(UTC))
    first = asyncio.ensure_future(anext(tail))
    await asyncio.sleep(0)
    sent: dict[int, float] = {}
    latencies: list[float] = []
    ctx = CorrelationContext.new(cid)
    await bus.publish("violation.detected", {"i": -1}, ctx)
    await first  # the tail is assigned and reading
    tail_start = time.perf_counter() - started
    for i in range(LATENCY_SAMPLES):
        sent[i] = time.perf_counter()
        await bus.publish("violation.detected", {"i": i}, ctx)
        event = await anext(tail)
        latencies.append(time.perf_counter() - sent[event.data["i"]])
        await asyncio.sleep(0.002)
    await tail.aclose()  # type: ignore[attr-defined]
    return sorted(latencies), tail_start


def pct(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] * 1000


async def profile(bootstrap: str, spool: str, awaited: bool) -> None:
    from pyinstrument import Profiler

    options = {"spool_dir": spool, "fire_and_forget": not awaited}
    async with KafkaEventBus(bootstrap, topic_prefix="warm", **options) as bus:  # type: ignore[arg-type]
        await (bus_concurrent if awaited else bus_fire_and_forget)(bus, 2000)
    async with KafkaEventBus(bootstrap, topic_prefix="prof", **options) as bus:  # type: ignore[arg-type]
        profiler = Profiler(interval=0.0005, async_mode="disabled")  # every task, the loop too
        profiler.start()
        seconds = await (bus_concurrent if awaited else bus_fire_and_forget)(bus, N)
        profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))
    print(f"{'awaited' if awaited else 'fire_and_forget'} under the profiler: {rate(N, seconds)}")


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    async with EmbeddedBroker() as broker:
        bs = broker.bootstrap
        spool = tempfile.mkdtemp(prefix="bench-spool-")
        if "--profile" in sys.argv:
            await profile(bs, spool, awaited="awaited" in sys.argv)
            return
        best: dict[str, float] = {}

        def keep(name: str, seconds: float) -> None:
            best[name] = min(best.get(name, float("inf")), seconds)

        for r in range(ROUNDS):
            keep("aiokafka send_and_wait (1 by 1)", await raw_send_and_wait(bs, f"b{r}.raw1", 2000))
            keep("aiokafka send batch", await raw_batched(bs, f"b{r}.raw", N))
            keep(
                "confluent-kafka produce",
                await asyncio.to_thread(confluent_batched, bs, f"b{r}.c", N),
            )
            async with KafkaEventBus(bs, topic_prefix=f"b{r}", spool_dir=spool) as bus:
                keep("meshctl publish (1000 concurrent)", await bus_concurrent(bus, N))
            async with KafkaEventBus(
                bs, topic_prefix=f"f{r}", spool_dir=spool, fire_and_forget=True
            ) as bus:
                keep("meshctl publish fire_and_forget", await bus_fire_and_forget(bus, N))
        print(f"publish throughput, acks=all, {N} events (2000 for 1-by-1), best of {ROUNDS}:")
        for name, seconds in best.items():
            n = 2000 if "1 by 1" in name else N
            print(f"  {name:<36} {rate(n, seconds)}")
        async with KafkaEventBus(bs, topic_prefix="lat", spool_dir=spool) as bus:
            lat, tail_start = await publish_to_tail(bus)
        print(f"publish->tail latency over {LATENCY_SAMPLES} events:")
        print(
            f"  p50 {pct(lat, 0.50):.2f} ms  p99 {pct(lat, 0.99):.2f} ms"
            f"  max {lat[-1] * 1000:.2f} ms"
        )
        print(f"  tail start (assign + seek + first event) {tail_start * 1000:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
