"""`Settings`: every setting copydesk reads, its default, its environment name and its range.

One flat pydantic-settings model; each field's alias is its environment variable and its
attribute docstring says what it does. A value is checked when the settings load (ranges and
patterns here, what a pattern cannot say in `settings_checks`), so a bad one is one line
before any work. Where the values come from is `settings_layers`; this model reads only
flags and the environment itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from copydesk.agents.settings_checks import (
    check_api_key,
    check_checkpoint_url,
    check_folder,
    check_home,
    check_url,
)

__all__ = ["Settings", "aliases"]


class Settings(BaseSettings):
    """Every setting copydesk reads. Environment names are the field aliases."""

    model_config = SettingsConfigDict(
        populate_by_name=True, extra="ignore", frozen=True, case_sensitive=True, allow_inf_nan=False
    )

    openai_api_key: SecretStr | None = Field(None, alias="OPENAI_API_KEY")
    """API key. With neither a key nor a base URL, copydesk uses its offline model."""
    openai_base_url: str | None = Field(None, alias="OPENAI_BASE_URL", pattern=r"^https?://\S+$")
    """Any OpenAI-compatible endpoint (Azure, Ollama, vLLM, llama.cpp server)."""
    model: str = Field("gpt-4o-mini", alias="COPYDESK_MODEL", min_length=1)
    """Chat model name."""
    home: Path = Field(Path(".copydesk"), alias="COPYDESK_HOME")
    """Where checkpoints, transcripts and the audit log live."""
    checkpoint_url: str | None = Field(
        None, alias="COPYDESK_CHECKPOINT_URL", pattern=r"^(memory:|sqlite:|postgres(ql)?://)"
    )
    """`memory:`, `sqlite:///path` or `postgresql://...`; default SQLite under home."""
    request_timeout: float = Field(60.0, alias="COPYDESK_REQUEST_TIMEOUT", gt=0, le=3600)
    """Seconds one HTTP request to the model may take."""
    max_retries: int = Field(6, alias="COPYDESK_MAX_RETRIES", ge=0, le=50)
    """Retries of a failing model call (429, 5xx, timeouts, dropped connections)."""
    retry_budget: float = Field(300.0, alias="COPYDESK_RETRY_BUDGET", gt=0)
    """Seconds one model call may spend in total, retries and waits included."""
    max_rounds: int = Field(3, alias="COPYDESK_MAX_ROUNDS", ge=1, le=1000)
    """Default number of writer drafts before a run ends without approval."""
    window_tokens: int = Field(6000, alias="COPYDESK_WINDOW_TOKENS", ge=64)
    """Token budget for the recent history each agent sees."""
    summary_tokens: int = Field(0, alias="COPYDESK_SUMMARY_TOKENS", ge=0)
    """Part of the window budget for a summary of older messages; 0 turns it off."""
    memory: bool = Field(True, alias="COPYDESK_MEMORY")
    """Store facts, issues and accepted drafts, and recall them before each call."""
    recall_k: int = Field(8, alias="COPYDESK_RECALL_K", ge=1, le=100)
    """Memories recalled at most before each call (from the thread and the project)."""
    recall_tokens: int = Field(800, alias="COPYDESK_RECALL_TOKENS", ge=32)
    """Token budget for recalled memories in each prompt."""
    project: str = Field("default", alias="COPYDESK_PROJECT", pattern=r"^[A-Za-z0-9._-]+$")
    """Project whose threads share memories."""
    embedding_model: str = Field("text-embedding-3-small", alias="COPYDESK_EMBEDDING_MODEL")
    """Embedding model used when a key or base URL is set."""
    embedding_dims: int | None = Field(None, alias="COPYDESK_EMBEDDING_DIMS", ge=8, le=4096)
    """Embedding size (default 1536 with OpenAI, 384 offline)."""
    local_embedder: Literal["auto", "minilm", "lexical"] = Field(
        "auto", alias="COPYDESK_LOCAL_EMBEDDER"
    )
    """Embedder without an embedding endpoint: MiniLM (the `minilm` extra) or lexical."""
    structured_output: Literal["json_schema", "function_calling", "json_prompt"] = Field(
        "json_schema", alias="COPYDESK_STRUCTURED_OUTPUT"
    )
    """How typed replies (the editor's verdict) are first requested; a server that refuses
    it moves on to the next (json_schema -> function_calling -> json_prompt)."""
    max_output_tokens: int = Field(1024, alias="COPYDESK_MAX_OUTPUT_TOKENS", ge=0, le=1_000_000)
    """Output cap of a call whose prompt sets no `max_tokens` (0: none)."""
    call_timeout: float = Field(300.0, alias="COPYDESK_CALL_TIMEOUT", gt=0, le=86400)
    """Seconds one whole model call (a stream, first chunk to last) may take."""
    context_tokens: int | None = Field(None, alias="COPYDESK_CONTEXT_TOKENS", ge=256)
    """The model's context in tokens, when known; prompts are trimmed to fit it."""
    local: bool = Field(False, alias="COPYDESK_LOCAL")
    """Run on a local llama.cpp server with Gemma 3 270M, started for the run (`--local`)."""
    llama_venv: Path | None = Field(None, alias="COPYDESK_LLAMA_VENV")
    """Virtualenv of the local llama.cpp server (default `~/.cache/copydesk/llama-venv`)."""
    rpm: float | None = Field(None, alias="COPYDESK_RPM", gt=0)
    """Requests per minute the API allows this key and model (None: learn from its headers)."""
    tpm: int | None = Field(None, alias="COPYDESK_TPM", gt=0)
    """Tokens per minute the API allows (None: learn from its headers)."""
    redis_url: str | None = Field(None, alias="COPYDESK_REDIS_URL", pattern=r"^rediss?://\S+$")
    """Share the rate limit and thread budgets with every process using this Redis."""
    fallback_models: str = Field("", alias="COPYDESK_FALLBACK_MODELS")
    """Comma-separated models tried in order when the model keeps failing."""
    prices: Path | None = Field(None, alias="COPYDESK_PRICES")
    """TOML file of prices per model (USD per million tokens), on top of the built-in table."""
    max_connections: int = Field(100, alias="COPYDESK_MAX_CONNECTIONS", ge=1, le=10000)
    """HTTP connections to the API at most (`run-many` sets it to its concurrency)."""
    broker_url: str = Field(
        "amqp://guest:guest@127.0.0.1:5672//",
        alias="COPYDESK_BROKER_URL",
        pattern=r"^amqps?://\S+$",
    )
    """RabbitMQ that `copydesk worker` and `copydesk submit` share (secret-free in logs)."""
    queue: str = Field("copydesk", alias="COPYDESK_QUEUE", pattern=r"^[A-Za-z_][A-Za-z0-9._-]*$")
    """The RabbitMQ queue workers take conversations from (one per team or environment)."""
    worker_concurrency: int = Field(32, alias="COPYDESK_WORKER_CONCURRENCY", ge=1, le=1000)
    """Conversations one `copydesk worker` process runs at once, on one event loop."""
    store_url: str | None = Field(None, alias="COPYDESK_STORE_URL", pattern=r"^postgres(ql)?://")
    """Keep memory items and vectors in this PostgreSQL (shared by workers); local when unset."""
    offline: bool = Field(False, alias="COPYDESK_OFFLINE")
    """Use the offline model even when a key is set."""
    prompts_dir: Path | None = Field(None, alias="COPYDESK_PROMPTS_DIR")
    """Folder of prompt versions, labels and experiments; the shipped `prompts/` when unset."""
    price_per_1k_tokens: float | None = Field(None, alias="COPYDESK_PRICE_PER_1K_TOKENS", ge=0)
    """Price of 1,000 tokens (prompt + completion), for costs in `copydesk prompts ab-report`."""
    traces: bool = Field(False, alias="COPYDESK_TRACES")
    """Export OpenTelemetry traces and metrics over OTLP (also on when
    `OTEL_EXPORTER_OTLP_ENDPOINT` is set); `copydesk traces` starts a local viewer."""
    trace_content: bool = Field(False, alias="COPYDESK_TRACE_CONTENT")
    """Put the messages sent and the replies in the model-call spans (off: counts only)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "WARNING", alias="COPYDESK_LOG_LEVEL"
    )
    """Log level of copydesk's own loggers."""

    @field_validator("openai_api_key")
    @classmethod
    def _key_fits_a_header(cls, key: SecretStr | None) -> SecretStr | None:
        return key if key is None else SecretStr(check_api_key(key.get_secret_value()))

    @field_validator("openai_base_url")
    @classmethod
    def _base_url_parses(cls, url: str | None) -> str | None:
        return url if url is None else check_url(url, ("http", "https"))

    @field_validator("redis_url")
    @classmethod
    def _redis_url_parses(cls, url: str | None) -> str | None:
        return url if url is None else check_url(url, ("redis", "rediss"))

    @field_validator("broker_url")
    @classmethod
    def _broker_url_parses(cls, url: str) -> str:
        return check_url(url, ("amqp", "amqps"))

    @field_validator("store_url")
    @classmethod
    def _store_url_parses(cls, url: str | None) -> str | None:
        return (
            url if url is None else check_url(url, ("postgresql", "postgres"), host_required=False)
        )

    @field_validator("checkpoint_url")
    @classmethod
    def _checkpoint_url_parses(cls, url: str | None) -> str | None:
        return url if url is None else check_checkpoint_url(url)

    @field_validator("home", mode="before")
    @classmethod
    def _home_is_named(cls, value: Any) -> Any:
        # Path("") is the current folder: an empty COPYDESK_HOME would scatter the store there.
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty; unset it (the default is ./.copydesk) or name a folder")
        return value

    @field_validator("home")
    @classmethod
    def _home_is_a_folder(cls, path: Path) -> Path:
        return check_home(path)

    @field_validator("prompts_dir")
    @classmethod
    def _prompts_dir_exists(cls, path: Path | None) -> Path | None:
        return path if path is None else check_folder(path)

    @property
    def resolved_checkpoint_url(self) -> str:
        """The checkpoint URL, defaulting to SQLite under `home`."""
        return self.checkpoint_url or f"sqlite:///{self.home / 'checkpoints.sqlite'}"

    @property
    def is_offline(self) -> bool:
        """True when calls go to the offline model."""
        return self.offline or (self.openai_api_key is None and self.openai_base_url is None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only flags (init) and the environment: `settings_layers` puts the files below."""
        return init_settings, env_settings


def aliases() -> dict[str, str]:
    """Each setting's field name -> its environment name (`model` -> `COPYDESK_MODEL`)."""
    return {name: str(info.alias) for name, info in Settings.model_fields.items()}
