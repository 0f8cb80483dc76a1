"""The model-client subsystem: the one door to any OpenAI-compatible API.

`OpenAIClient` (chat.py) owns retries (retry.py), the shared rate limiter and its budgets
(limiter.py, windows.py, windows_redis.py), the circuit breaker and stream restarts
(resilience.py), prices and usage (prices.py, usage.py), and the deterministic offline model
(offline/) served when no key is set; embeddings for the memory store go through the same
machinery (embeddings.py).

Names are loaded on first use (`__init__.pyi` lists them): importing the package loads
nothing heavy (langchain-openai, httpx pools) until a name is used.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
