"""Starting many database writers at the same instant, for concurrency tests."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def run_in_threads(count: int, target: Callable[[int], object]) -> list[BaseException]:
    """Run target(0..count-1) on `count` threads released together by a barrier; return
    the exceptions they raised (each thread closes its own database connection)."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def worker(index: int) -> None:
        try:
            barrier.wait()
            target(index)
        except BaseException as error:  # collected and asserted by the caller
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
