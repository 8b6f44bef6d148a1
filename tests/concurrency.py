"""Run one callable from many threads at once, for row-lock tests on PostgreSQL."""

import threading

from django.db import connections


def race(target, n: int, *, timeout: float = 60) -> tuple[list, list]:
    """Start ``n`` threads that call ``target`` together (behind a barrier); return the results
    and the exceptions. Each thread closes its own database connections when done."""
    barrier = threading.Barrier(n)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(target())
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results, errors
