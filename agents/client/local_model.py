"""A real model on this machine for a run: llama.cpp's server with Gemma 3 270M.

`copydesk run ... --local` (or `COPYDESK_LOCAL=1`) and `make demo-local` use it through
`serving`: the first time, the server's virtualenv and the model are set up (`local_setup`,
built once and cached: nothing is downloaded at run time); each run then starts the server
on a free loopback port (`local_server`), points the run at it and stops it afterwards, also
on Ctrl-C and on errors. `python -m copydesk.agents.client.local_model` (`make local-model`)
runs the setup alone. Versions and cache locations are in `local_paths`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from copydesk.agents.client.local_paths import LOCAL_MODEL, default_venv
from copydesk.agents.client.local_server import local_settings, serve
from copydesk.agents.client.local_setup import ensure_ready, main

if TYPE_CHECKING:
    from copydesk.agents.settings import Settings

__all__ = ["serving"]


@contextlib.contextmanager
def serving(settings: Settings, announce: Callable[[str], None]) -> Iterator[Settings]:
    """`settings` as they are, or, with `local` on, pointed at a local server run meanwhile."""
    if not settings.local:
        yield settings
        return
    venv = settings.llama_venv or default_venv()
    ensure_ready(venv, announce)
    context = settings.context_tokens or 4096
    started = time.monotonic()
    with serve(venv, context_tokens=context) as url:
        announce(
            f"copydesk: local model {LOCAL_MODEL} (llama.cpp) at {url}, "
            f"started in {time.monotonic() - started:.0f}s"
        )
        yield local_settings(settings, url, context)


if __name__ == "__main__":
    raise SystemExit(main())
