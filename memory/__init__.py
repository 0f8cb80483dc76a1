"""What agents remember: the token-bounded window, recall from a FAISS store, durable
checkpoints and their pruning.

Names are loaded on first use (`__init__.pyi` lists them): importing the package
opens nothing and imports nothing heavy, so `copydesk --help` starts fast.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
