"""The model-client subsystem: the one door to any OpenAI-compatible API.

`OpenAIClient` (chat.py) puts a call together: the connection pool of each event loop
(pool.py), what a request sends (request.py, shaping.py, typed.py) and a typed reply's repairs
(repair.py), the way a call goes through retries and fallbacks (calls.py, retry.py) and what
its failures mean (failures.py), the shared rate limiter and its budgets (limiter.py,
pacing.py, waiting.py, headers.py, windows.py, windows_redis.py), the circuit breaker and
stream restarts (resilience.py), what each server can do (capabilities.py), prices and usage
(prices.py, usage.py), the JSON wire and its cut check (wire.py, chunks.py, cuts.py) and the
deterministic offline model (offline/) served when no key is set; embeddings for the memory
store go through the same machinery (embeddings.py), calls made close together in one
request (gathering.py). With `--local` a run is served by a real
small model on this machine (local_model.py): llama.cpp's server, set up once (local_setup.py),
started and stopped for the run (local_server.py), kept where local_paths.py says.

Names are loaded on first use (`__init__.pyi` lists them): importing the package loads
nothing heavy (langchain-openai, httpx pools) until a name is used.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
