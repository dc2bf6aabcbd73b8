"""The one thread that runs the Assistant.

`Assistant` is not thread-safe, so the app never calls it from the UI loop or from two workers at
once: every call is queued here and runs in order, one at a time, on a single thread. Screens
await results; streamed pieces and progress are posted as messages from this thread (Textual's
`post_message` is thread-safe), so they arrive in the order they happened.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from runtime import HopeError
from runtime.assistant import Assistant

T = TypeVar("T")


class Engine:
    def __init__(self, assistant: Assistant | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hope-engine")
        self._lock = threading.Lock()
        self._jobs = 0
        self.assistant = assistant

    @property
    def busy(self) -> bool:
        """True while a job is queued or running (the idle trigger waits for a quiet engine)."""
        with self._lock:
            return self._jobs > 0

    @property
    def is_open(self) -> bool:
        return self.assistant is not None

    def _submit(self, fn: Callable[[], T]) -> Future[T]:
        with self._lock:
            self._jobs += 1
        future = self._pool.submit(fn)
        future.add_done_callback(self._done)  # also runs for a job cancelled before it started
        return future

    def _done(self, _future: Future) -> None:
        with self._lock:
            self._jobs -= 1

    async def run(self, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        """Run ``fn(*args, **kwargs)`` on the engine thread, after everything queued before it."""
        return await asyncio.wrap_future(self._submit(lambda: fn(*args, **kwargs)))

    async def call(self, fn: Callable[[Assistant], T]) -> T:
        """Run ``fn(assistant)`` on the engine thread; a HopeError if no user is unlocked yet."""
        def job() -> T:
            if self.assistant is None:
                raise HopeError("no user is unlocked yet")
            return fn(self.assistant)

        return await asyncio.wrap_future(self._submit(job))

    def shutdown(self) -> None:
        """Drop queued jobs; a running one finishes on its own (the interpreter joins the thread)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
