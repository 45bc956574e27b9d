"""Per-call overhead of the circuit breaker on the success path.

Contenders, all in one run and one event loop:
  async: a bare ``await noop()`` (baseline), meshctl ``await breaker.call(noop)``,
         aiobreaker ``await breaker.call_async(noop)``;
  sync:  a bare ``noop()`` (baseline), meshctl ``allow()`` + ``record_success()``,
         pybreaker ``breaker.call(noop)`` (pybreaker's ``call_async`` needs tornado,
         so its synchronous path is the one compared).
Rounds interleave the contenders so machine noise hits them alike; best and
median ns per call over ROUNDS rounds of N calls are printed.
Run: .venv/bin/python benchmarks/bench_breaker.py
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable

import aiobreaker
import pybreaker

from meshctl.core.breaker import CircuitBreaker

N = 100_000
ROUNDS = 7


async def anoop() -> None:
    return None


def noop() -> None:
    return None


async def bare_async(n: int) -> None:
    for _ in range(n):
        await anoop()


async def meshctl_call(n: int) -> None:
    call = CircuitBreaker("bench").call
    for _ in range(n):
        await call(anoop)


async def aiobreaker_call(n: int) -> None:
    call = aiobreaker.CircuitBreaker().call_async
    for _ in range(n):
        await call(anoop)


async def bare_sync(n: int) -> None:
    for _ in range(n):
        noop()


async def meshctl_allow_record(n: int) -> None:
    breaker = CircuitBreaker("bench")
    allow, record_success = breaker.allow, breaker.record_success
    for _ in range(n):
        if allow():
            noop()
            record_success()


async def pybreaker_call(n: int) -> None:
    call = pybreaker.CircuitBreaker().call
    for _ in range(n):
        call(noop)


CONTENDERS: dict[str, Callable[[int], Awaitable[None]]] = {
    "bare await noop()": bare_async,
    "meshctl await breaker.call(noop)": meshctl_call,
    "aiobreaker await call_async(noop)": aiobreaker_call,
    "bare noop()": bare_sync,
    "meshctl allow() + record_success()": meshctl_allow_record,
    "pybreaker call(noop)": pybreaker_call,
}


async def main() -> None:
    samples: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for run in CONTENDERS.values():
        await run(N // 10)  # warm-up
    for _ in range(ROUNDS):
        for name, run in CONTENDERS.items():
            gc.collect()
            started = time.perf_counter_ns()
            await run(N)
            samples[name].append((time.perf_counter_ns() - started) / N)
    print(f"{N:,} calls x {ROUNDS} rounds, ns per call")
    print(f"{'contender':<38}{'best':>9}{'median':>9}")
    for name, values in samples.items():
        print(f"{name:<38}{min(values):>9.0f}{statistics.median(values):>9.0f}")


if __name__ == "__main__":
    asyncio.run(main())
