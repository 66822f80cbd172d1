"""The app as `support serve` runs it: one per worker process, with the collector scheduled for serving.

CPython's cyclic garbage collector runs a young-generation pass every 700 net allocations. A turn allocates tens
of thousands of short-lived objects (statements, rows, SDK models), so under load a worker ran a pass every few
hundred microseconds, each walking every young object alive in the 200 turns in flight: about a seventh of a
worker's CPU at 200 conversations (`benchmarks/throughput.py`), and its pauses land on the event loop, where every
request in flight waits. Passes 70 times rarer cut the service's CPU per turn by about a tenth there; garbage in
cycles is still collected, and memory stays bounded by the same generations.

`gc.freeze()` would save more (the start-up objects are never walked again), but an object frozen while alive is
never collected once it becomes garbage: a database connection dropped in a cycle later would never close. It is
left out on purpose.

Tests build the app with `api.app.create_app` and keep the interpreter's defaults.
"""

from __future__ import annotations

import gc

from fastapi import FastAPI

from api.app import create_app

SERVING_THRESHOLDS = (50_000, 20, 10)
"""Young generation every 50,000 net allocations (CPython: 700), then the middle and old generations on their
usual ratios (the old one also waits until its pending objects are a quarter of those it holds)."""


def schedule_collector_for_serving() -> None:
    gc.set_threshold(*SERVING_THRESHOLDS)


def create_served_app() -> FastAPI:
    """uvicorn's factory for each worker process of `support serve`."""
    schedule_collector_for_serving()
    return create_app()
