"""How the agents talk: topologies as graph files, the conversation manager and the CLI.

Importing this package compiles nothing and opens nothing; `load("debate")` imports a
topology module and returns its compiled graph. Endings (`Approved() | MaxRounds(5) &
NoChange()`) are the composable conditions every topology's `build(endings=...)` takes.


Names are loaded on first use (`__init__.pyi` lists them): importing the package
opens nothing and imports nothing heavy, so `copydesk --help` starts fast.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
