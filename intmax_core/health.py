"""Liveness probes of the pipeline's dependencies, shared by the API and the CLI."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from sqlalchemy import Engine, text


@dataclass(frozen=True)
class DependencyStatus:
    up: bool
    latency_ms: float
    error: str | None = None


def _probe(check) -> DependencyStatus:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    try:
        check()
    except Exception as error:
        return DependencyStatus(False, _ms(started), type(error).__name__)
    return DependencyStatus(True, _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def warehouse_status(engine: Engine) -> DependencyStatus:
    def check() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    return _probe(check)


def redis_status(url: str, timeout: float) -> DependencyStatus:
    def check() -> None:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()

    return _probe(check)
