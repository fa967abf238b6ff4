"""The background event loop the local servers run on (testing/background.py)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import TimeoutError as FutureTimeout

import pytest

from tvs_pipeline.market.tradingview.testing.background import BackgroundLoop


def test_coroutines_run_on_another_thread_and_return_their_result():
    loop = BackgroundLoop()
    try:

        async def where() -> tuple[int, str]:
            await asyncio.sleep(0)
            return 6 * 7, threading.current_thread().name

        answer, thread = loop.run(where())
        assert answer == 42 and thread != threading.current_thread().name
        with pytest.raises(ValueError, match="inside"):

            async def boom() -> None:
                raise ValueError("raised inside the loop")

            loop.run(boom())
    finally:
        loop.stop()


def test_a_slow_coroutine_times_out():
    loop = BackgroundLoop()
    try:
        with pytest.raises(FutureTimeout):
            loop.run(asyncio.sleep(5), timeout=0.05)
    finally:
        loop.stop()


def test_stop_ends_the_thread_closes_the_loop_and_is_idempotent():
    loop = BackgroundLoop()
    loop.stop()
    assert loop.loop.is_closed() and not loop._thread.is_alive()
    loop.stop()  # a second stop does nothing
