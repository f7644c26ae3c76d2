"""A bounded pool of worker threads that can replace a worker stuck in a hung probe.

concurrent.futures.ThreadPoolExecutor cannot give up a thread that never returns, so a handful of hung
backends would take every worker and starve the healthy targets. Here, when the scheduler finds a probe
past its timeout it calls `replace(thread)`: a fresh worker joins the pool and the stuck one leaves when its
probe finally returns. At most `max_hung` stuck workers are replaced; past that the pool runs short (the
caller logs it and the self-metrics show it) rather than growing without bound.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger("monitors.collection")


class WorkerPool:
    """`size` worker threads taking jobs (callables) from one queue."""

    def __init__(self, size: int, name: str, max_hung: int) -> None:
        if size < 1:
            raise ValueError(f"worker pool {name}: size {size} must be >= 1; set collection.workers >= 1")
        self.size, self.name, self.max_hung = size, name, max_hung
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers: set[threading.Thread] = set()  # in the pool (not replaced)
        self._hung: set[threading.Thread] = set()  # replaced; they leave when their job returns
        self._busy: set[threading.Thread] = set()
        self._serial = 0

    def start(self) -> None:
        with self._lock:
            for _ in range(self.size - len(self._workers)):
                self._spawn()

    def _spawn(self) -> None:  # with self._lock held
        self._serial += 1
        thread = threading.Thread(target=self._work, daemon=True, name=f"{self.name}-worker-{self._serial}")
        self._workers.add(thread)
        thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        self._queue.put(job)

    def replace(self, thread: threading.Thread) -> bool:
        """Give the pool a fresh worker in place of `thread` (stuck in a job); False when `max_hung` are
        already replaced, so the pool now runs one worker short until a stuck job returns."""
        with self._lock:
            if thread in self._hung or thread not in self._workers:
                return True
            if len(self._hung) >= self.max_hung:
                return False
            self._workers.discard(thread)
            self._hung.add(thread)
            self._spawn()
            return True

    def stop(self) -> None:
        """Ask every worker to leave after its current job (queued jobs not yet started are dropped)."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        with self._lock:
            count = len(self._workers)
        for _ in range(count):
            self._queue.put(None)

    def counts(self) -> dict[str, int]:
        """Workers by state (idle, busy, hung: replaced and still in a job) and jobs waiting for a worker."""
        with self._lock:
            busy = len(self._busy & self._workers)
            return {"idle": len(self._workers) - busy, "busy": busy, "hung": len(self._hung),
                    "queued": self._queue.qsize()}

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            job = self._queue.get()
            if job is None:
                with self._lock:
                    self._workers.discard(me)
                return
            with self._lock:
                self._busy.add(me)
            try:
                job()
            except Exception:  # a job handles its own errors; this only keeps the worker alive
                log.exception(f"{self.name}: a collection job raised")
            with self._lock:
                self._busy.discard(me)
                replaced = me in self._hung
                self._hung.discard(me)
            if replaced:  # replaced while stuck: leave the pool
                return
