"""Run one callable from many threads at once, for row-lock tests on PostgreSQL; see which
threads left their database connection open."""

import threading
import time

from django.db import connection, connections


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


def other_database_sessions(*, wait: float = 2.0, besides: frozenset = frozenset()) -> list[tuple]:
    """The PostgreSQL sessions on this database other than this thread's own and those in
    ``besides`` (pids), once none is left or after ``wait`` seconds (a live server's last request
    may still be finishing): what a thread that used the database and ended without closing its
    connection leaves behind until the garbage collector gets to it. (pid, state, backend start,
    the start of its last query)."""
    deadline = time.monotonic() + wait
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT pid, state, backend_start, left(query, 80) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            others = [row for row in cursor.fetchall() if row[0] not in besides]
            if not others or time.monotonic() >= deadline:
                return others
            time.sleep(0.1)
