"""Run calls at the same moment in real threads, each on its own database connection."""

from __future__ import annotations

import threading

from django.db import connection


def in_threads(calls, timeout: float = 120):
    """Start every call behind a barrier; return [("ok", value) | ("error", exception)] in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            results[i] = ("ok", call())
        except Exception as err:  # noqa: BLE001 - returned to the test, which asserts on it
            results[i] = ("error", err)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    return results
