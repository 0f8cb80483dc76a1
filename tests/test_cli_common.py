"""The garbage collector around a command: resting while it loads, blind to what it loaded
while it runs, and as before once it is done."""

from __future__ import annotations

import gc

from copydesk.graphs.cli.common import execute, loading


def test_loading_rests_the_collector_and_restores_it() -> None:
    """No collection while modules load; the collector is back on afterwards, and stays off
    when it was off before."""
    assert gc.isenabled()
    with loading():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with loading():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_run_does_not_walk_what_was_loaded_before_it() -> None:
    """Objects that existed before the run are frozen during it and thawed after it."""

    async def work() -> int:
        return gc.get_freeze_count()

    assert execute(work) > 0
    assert gc.get_freeze_count() == 0
