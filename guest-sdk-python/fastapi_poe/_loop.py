"""The asyncio event loop a bot's coroutines run on inside poe-host.

asyncio's own loops need sockets and threads (`asyncio.run` fails making its self-pipe),
which a bot does not have. This loop needs neither: ready callbacks run in order, timers
wait on the monotonic clock, and other bots' answers (`stream_request`) wait on their
pollables, all in one `wasi:io/poll` call when nothing is ready. So `asyncio.sleep`,
`gather`, `create_task`, `wait_for` and `as_completed` work, and a bot waiting on several
streams at once waits for whichever comes first, without spinning.
"""

import asyncio
import heapq
import itertools
import sys
from typing import Any, Callable, Optional

from poe_wit.imports import monotonic_clock, poll

_NANOS = 1_000_000_000


class PollLoop(asyncio.AbstractEventLoop):
    """A single-threaded asyncio loop over `wasi:io/poll`."""

    def __init__(self) -> None:
        self._ready: list = []
        self._timers: list = []
        self._order = itertools.count()
        self._waiters: list = []  # (pollable, future)
        self._running = False
        self._closed = False

    # -- running -------------------------------------------------------------------

    def run_until_complete(self, future: Any) -> Any:
        """Run until `future` (a coroutine or future) is done; return its result."""
        task = asyncio.ensure_future(future, loop=self)
        self._running = True
        asyncio.events._set_running_loop(self)
        try:
            while not task.done():
                self._run_ready()
                if not task.done() and not self._ready:
                    self._wait()
            return task.result()
        finally:
            self._running = False
            asyncio.events._set_running_loop(None)

    def _run_ready(self) -> None:
        now = self.time()
        while self._timers and self._timers[0][0] <= now:
            _, _, handle = heapq.heappop(self._timers)
            if not handle._cancelled:
                self._ready.append(handle)
        ready, self._ready = self._ready, []
        for handle in ready:
            if not handle._cancelled:
                handle._run()

    def _wait(self) -> None:
        """Block until a timer is due or a pollable is ready."""
        self._drop_cancelled()
        if not self._waiters and not self._timers:
            raise RuntimeError("the bot is waiting on nothing that can ever finish (a deadlock)")
        pollables = [pollable for pollable, _ in self._waiters]
        timer = None
        if self._timers:
            delay = max(0, int((self._timers[0][0] - self.time()) * _NANOS))
            timer = monotonic_clock.subscribe_duration(delay)
            pollables.append(timer)
        ready = set(poll.poll(pollables))
        if timer is not None:
            timer.__exit__(None, None, None)
        still = []
        for index, (pollable, future) in enumerate(self._waiters):
            if index in ready:
                pollable.__exit__(None, None, None)
                if not future.done():
                    future.set_result(None)
            else:
                still.append((pollable, future))
        self._waiters = still

    def _drop_cancelled(self) -> None:
        while self._timers and self._timers[0][2]._cancelled:
            heapq.heappop(self._timers)
        waiting = []
        for pollable, future in self._waiters:
            if future.done():  # cancelled: nobody waits for it any more
                pollable.__exit__(None, None, None)
            else:
                waiting.append((pollable, future))
        self._waiters = waiting

    def wait_for_pollable(self, pollable: Any) -> "asyncio.Future":
        """A future done once `pollable` is ready (the loop owns and drops the pollable)."""
        future = self.create_future()
        self._waiters.append((pollable, future))
        return future

    # -- scheduling ----------------------------------------------------------------

    def time(self) -> float:
        return monotonic_clock.now() / _NANOS

    def call_soon(self, callback: Callable, *args: Any, context: Any = None) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    call_soon_threadsafe = call_soon

    def call_later(self, delay: float, callback: Callable, *args: Any, context: Any = None) -> asyncio.TimerHandle:
        return self.call_at(self.time() + delay, callback, *args, context=context)

    def call_at(self, when: float, callback: Callable, *args: Any, context: Any = None) -> asyncio.TimerHandle:
        handle = asyncio.TimerHandle(when, callback, args, self, context)
        heapq.heappush(self._timers, (when, next(self._order), handle))
        return handle

    def _timer_handle_cancelled(self, handle: Any) -> None:
        pass

    def create_future(self) -> "asyncio.Future":
        return asyncio.Future(loop=self)

    def create_task(self, coro: Any, *, name: Any = None, context: Any = None) -> "asyncio.Task":
        return asyncio.Task(coro, loop=self, name=name, context=context)

    # -- state ---------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._running

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True

    def stop(self) -> None:
        pass

    def get_debug(self) -> bool:
        return False

    def set_debug(self, enabled: bool) -> None:
        pass

    async def shutdown_asyncgens(self) -> None:
        pass

    def default_exception_handler(self, context: dict) -> None:
        self.call_exception_handler(context)

    def call_exception_handler(self, context: dict) -> None:
        # As asyncio's own loops: an exception nobody retrieved, or one a callback raised,
        # is reported (to the host's log, through stderr) and the loop goes on.
        message = context.get("message", "unhandled exception in the event loop")
        error = context.get("exception")
        print(f"asyncio: {message}" + (f": {error!r}" if error is not None else ""), file=sys.stderr)


_LOOP: Optional[PollLoop] = None


def run(coro: Any) -> Any:
    """Run `coro` to completion on the bot's loop."""
    global _LOOP
    if _LOOP is None:
        _LOOP = PollLoop()
        asyncio.set_event_loop(_LOOP)
    return _LOOP.run_until_complete(coro)


async def wait_ready(pollable: Any) -> None:
    """Wait, without blocking other tasks, until `pollable` is ready."""
    loop = asyncio.get_running_loop()
    await loop.wait_for_pollable(pollable)  # type: ignore[attr-defined]
