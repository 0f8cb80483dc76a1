"""Settings and secrets: CLI flags > environment > `.env` > `copydesk.toml` > defaults.

Secrets are `SecretStr` and never printed. A secret may also come from a file named by
`NAME_FILE` (for example `OPENAI_API_KEY_FILE=/run/secrets/openai`), which is re-read when it
changes so a rotated key is picked up without a restart. Every read of a secret appends one
line to `COPYDESK_HOME/audit.log` naming the secret, where it came from and its fingerprint.
"""

from __future__ import annotations

import json
import os
import threading
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from copydesk.agents.errors import ConfigError, fingerprint
from copydesk.agents.settings_checks import (
    check_api_key,
    check_checkpoint_url,
    check_folder,
    check_home,
    check_url,
    range_fix,
)
from copydesk.memory.checkpoint import safe_url

__all__ = ["ConfigManager", "Settings"]

CONFIG_FILE = Path("copydesk.toml")
ENV_FILE = Path(".env")


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
    local_embedder: Literal["auto", "minilm", "lexical"] = Field(
        "auto", alias="COPYDESK_LOCAL_EMBEDDER"
    )
    """Embedder without an embedding endpoint: MiniLM (the `minilm` extra) or lexical."""
    """Embedding size (default 1536 with OpenAI, 384 offline)."""
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
    """Share the rate limit with every process using this Redis."""
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
        """Only flags (init) and the environment: ConfigManager layers the files below."""
        return init_settings, env_settings


def _aliases() -> dict[str, str]:
    return {name: str(info.alias) for name, info in Settings.model_fields.items()}


class _Layer(PydanticBaseSettingsSource):
    """A fixed mapping of alias -> value (one config file), as a settings source."""

    def __init__(self, settings_cls: type[BaseSettings], values: Mapping[str, Any]) -> None:
        super().__init__(settings_cls)
        self._values = dict(values)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(str(field.alias)), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._values)


@dataclass
class ConfigManager:
    """Loads `Settings` from every source and hands out secrets.

    Attributes:
        flags: Values from CLI flags, by field name (`model`, `max_rounds`, ...). None is unset.
        env_file: The dotenv file (missing is fine).
        config_file: The TOML config file (missing is fine); keys are field names.
    """

    flags: Mapping[str, object] = field(default_factory=dict)
    env_file: Path = ENV_FILE
    config_file: Path = CONFIG_FILE
    _settings: Settings | None = field(default=None, init=False, repr=False)
    _secret_stamp: dict[str, tuple[int, int, int]] = field(
        default_factory=dict, init=False, repr=False
    )
    _secret_path: dict[str, Path | None] = field(default_factory=dict, init=False, repr=False)
    _audit_ready: bool = field(default=False, init=False, repr=False)
    # secret() is called from worker threads (one per request, off the event loop).
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    @classmethod
    def of(cls, settings: Settings) -> ConfigManager:
        """A manager handing out the secrets of `settings` as they were loaded (flags and
        all), still re-reading a rotated `NAME_FILE` and auditing each use."""
        manager = cls()
        manager._settings = settings
        return manager

    @property
    def settings(self) -> Settings:
        """The settings, loaded on first use."""
        if self._settings is None:
            self._settings = self.load()
        return self._settings

    def load(self) -> Settings:
        """Load and validate every source.

        Raises:
            ConfigError: One line naming the setting, the problem and where the value came from.
        """
        toml_values = self._read_toml()
        dotenv = self._read_dotenv()
        flags = {k: v for k, v in self.flags.items() if v is not None}
        lower = {**toml_values, **dotenv}
        for name in ("OPENAI_API_KEY",):
            secret = self._secret_from_file(name, lower)
            if secret is not None:
                lower[name] = secret

        class _Loaded(Settings):
            @classmethod
            def settings_customise_sources(
                cls,
                settings_cls: type[BaseSettings],
                init_settings: PydanticBaseSettingsSource,
                env_settings: PydanticBaseSettingsSource,
                dotenv_settings: PydanticBaseSettingsSource,
                file_secret_settings: PydanticBaseSettingsSource,
            ) -> tuple[PydanticBaseSettingsSource, ...]:
                return init_settings, env_settings, _Layer(settings_cls, lower)

        try:
            loaded = _Loaded(**flags)  # type: ignore[arg-type]
        except ValidationError as error:
            raise self._explain(error, flags, dotenv, toml_values) from None
        return Settings.model_validate(loaded.model_dump())

    def _read_toml(self) -> dict[str, Any]:
        path = self.config_file
        if not path.exists():
            return {}
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(
                f"cannot read config file {path}: {error}; fix or remove it"
            ) from None
        aliases = _aliases()
        unknown = sorted(set(data) - set(aliases))
        if unknown:
            raise ConfigError(
                f"config file {path}: unknown setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(aliases))}"
            )
        return {aliases[key]: value for key, value in data.items()}

    def _read_dotenv(self) -> dict[str, str]:
        if not self.env_file.exists():
            return {}
        try:
            values = dotenv_values(self.env_file)
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"cannot read {self.env_file}: {error}; fix or remove it") from None
        known = set(_aliases().values()) | {f"{a}_FILE" for a in _aliases().values()}
        return {k: v for k, v in values.items() if k in known and v is not None}

    def _secret_from_file(self, name: str, lower: Mapping[str, Any]) -> str | None:
        path_text = os.environ.get(f"{name}_FILE") or lower.get(f"{name}_FILE")
        if not path_text or name in os.environ:
            return None
        path = Path(str(path_text))
        try:
            stamp = _stamp(path)
            value = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(
                f"{name}_FILE: cannot read {path}: {error.strerror}; fix the path"
            ) from None
        except UnicodeDecodeError:
            raise ConfigError(
                f"{name}_FILE: {path} is not a text file; put the key alone in it as text"
            ) from None
        self._secret_stamp[name] = stamp
        return value

    def secret(self, name: str = "openai_api_key", *, use: str | None = None) -> SecretStr | None:
        """The current value of a secret setting, re-reading a rotated `NAME_FILE`.

        Cheap enough for every request: the file is re-read only when its modification time,
        size or inode changed (a rename-into-place rotation too). A file that cannot be read
        in the middle of a rotation keeps the last key until it can. Each call that returns
        a secret appends an audit line (name, source, fingerprint, `use`; never the value).
        Safe to call from several threads.

        Args:
            name: The setting's field name.
            use: What the secret is used for, e.g. `POST /v1/chat/completions`.
        """
        alias = _aliases()[name]
        with self._lock:
            path = self._key_path(alias)
            if path is not None:
                self._reread(name, alias, path)
            value = getattr(self.settings, name)
            if not isinstance(value, SecretStr):
                return None
            source = f"{alias}_FILE" if path is not None else alias
            self._audit(alias, source, fingerprint(value.get_secret_value()), use)
            return value

    def _key_path(self, alias: str) -> Path | None:
        """The `NAME_FILE` a secret comes from (found once), or None: the variable itself
        beats the file, as in `load`."""
        if alias not in self._secret_path:
            path_text = os.environ.get(f"{alias}_FILE") or self._read_dotenv().get(f"{alias}_FILE")
            from_file = bool(path_text) and alias not in os.environ
            self._secret_path[alias] = Path(str(path_text)) if from_file else None
        return self._secret_path[alias]

    def _reread(self, name: str, alias: str, path: Path) -> None:
        """Load the secret again from `path` when the file changed since it was read."""
        try:
            stamp = _stamp(path)
        except OSError:
            return  # gone for a moment (a rotation by rename): keep the last key
        if stamp == self._secret_stamp.get(alias):
            return
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return
        if not value:
            return  # written in place and caught half way: read it again next time
        self._secret_stamp[alias] = stamp
        self._settings = self.settings.model_copy(update={name: SecretStr(value)})

    def _audit(self, alias: str, source: str, print_: str, use: str | None) -> None:
        home = self.settings.home
        try:
            if not self._audit_ready:
                home.mkdir(parents=True, exist_ok=True)
                self._audit_ready = True
            entry: dict[str, Any] = {"time": time.time(), "secret": alias, "source": source}
            entry["id"] = print_
            if use:
                entry["use"] = use
            with (home / "audit.log").open("a", encoding="utf-8") as audit:
                audit.write(json.dumps(entry) + "\n")
        except OSError:
            pass  # auditing must never stop a run; the home may be read-only

    def _explain(
        self,
        error: ValidationError,
        flags: Mapping[str, object],
        dotenv: Mapping[str, str],
        toml_values: Mapping[str, Any],
    ) -> ConfigError:
        first = error.errors()[0]
        alias = str(first["loc"][0]) if first["loc"] else "?"
        names = {a: n for n, a in _aliases().items()}
        name = names.get(alias, alias)
        if name in flags:
            where = f"flag --{name.replace('_', '-')}"
        elif alias in os.environ:
            where = "the environment"
        elif alias in dotenv:
            where = str(self.env_file)
        elif alias in toml_values:
            where = str(self.config_file)
        else:
            where = "the default"
        value = first.get("input")
        if "key" in alias.lower():
            shown = "<secret>"
        elif alias.endswith("_URL") and isinstance(value, str):
            shown = repr(safe_url(value))  # a URL's password is a secret too
        else:
            shown = repr(value)
        problem = str(first["msg"]).removeprefix("Value error, ")
        key_file = os.environ.get(f"{alias}_FILE") or dotenv.get(f"{alias}_FILE")
        if key_file and alias not in os.environ:
            where = f"{alias}_FILE {key_file}"  # `load` read the value from that file
        return ConfigError(f"{alias}={shown} (from {where}): {problem}{_bounds_of(name, first)}")


def _bounds_of(name: str, error: Mapping[str, Any]) -> str:
    """ "; use a number from 1 to 1000" when `error` is a number out of the field's range (the
    message names one bound only), else ""."""
    if not str(error.get("type", "")).startswith(("greater_than", "less_than")):
        return ""
    field = Settings.model_fields.get(name)
    signs = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    bounds = {
        sign: getattr(rule, kind)
        for rule in (field.metadata if field is not None else ())
        for kind, sign in signs.items()
        if getattr(rule, kind, None) is not None
    }
    return range_fix(bounds)


def _stamp(path: Path) -> tuple[int, int, int]:
    """What tells a rewritten file: modification time (ns), size and inode."""
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size, stat.st_ino
