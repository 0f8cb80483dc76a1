"""Bad input, broken settings and damaged files, from a table: every case ends in one line on
stderr (`copydesk: error: ...`), the documented exit code (2 for bad input and damaged files,
1 for a storage server that cannot be reached), no traceback, and, unless the case says
otherwise, a COPYDESK_HOME left exactly as it was (file names, sizes and mtimes).

The commands run in process (`typer.testing.CliRunner` over the whole app, inside its error
boundary) on the offline model; a few run as a real console script at the end.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ormsgpack
import pytest
import typer
from typer.testing import CliRunner

from copydesk.agents.config import ConfigManager
from copydesk.graphs.cli.app import build
from copydesk.prompts.registry import DEFAULT_PROMPTS_DIR

THREAD = "t1"
CANARY = "sk-canary-0b5e7d21c9"
CLOSED = "127.0.0.1:1"  # nothing listens on port 1: a storage server that is down


@dataclass(frozen=True)
class Case:
    """One bad input: the command, its setting, the home it runs on and what must happen.

    `{home}`, `{assets}`, `{cwd}` and `{checkpoint}` in `args` and `env` are filled in.
    """

    id: str
    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    code: int = 2
    says: str = ""
    """A fragment (any case) the error line must contain: the thing it names."""
    home: str = "none"
    """none (no home yet), thread (one finished thread), or a damaged form (see `_HOMES`)."""
    files: Mapping[str, str] = field(default_factory=dict)
    """Files written to the working directory first (`.env`, `copydesk.toml`)."""


def c(id: str, *args: str, **options: Any) -> Case:
    return Case(id, tuple(args), **options)


RUN = ("run", "turn_taking", "--topic", "Trees")

SETTINGS = [
    c("base-url-empty-port", *RUN, env={"OPENAI_BASE_URL": "http://127.0.0.1:/v1"}, says="port"),
    c("base-url-no-host", *RUN, env={"OPENAI_BASE_URL": "http://:8080/v1"}, says="no host"),
    c("base-url-port-range", *RUN, env={"OPENAI_BASE_URL": "http://h:70000/v1"}, says="port"),
    c("base-url-port-text", *RUN, env={"OPENAI_BASE_URL": "http://h:abc/v1"}, says="port"),
    c("base-url-scheme", *RUN, env={"OPENAI_BASE_URL": "ftp://h/v1"}, says="OPENAI_BASE_URL"),
    c("base-url-spaces", *RUN, env={"OPENAI_BASE_URL": "not a url"}, says="OPENAI_BASE_URL"),
    c("key-with-space", *RUN, env={"OPENAI_API_KEY": f"{CANARY} x"}, says="OPENAI_API_KEY"),
    c("key-with-newline", *RUN, env={"OPENAI_API_KEY": f"{CANARY}\nx"}, says="one line"),
    c("key-file-binary", *RUN, env={"OPENAI_API_KEY_FILE": "{assets}/binary.key"}, says="text"),
    c("key-file-missing", *RUN, env={"OPENAI_API_KEY_FILE": "{assets}/none.key"}, says="_FILE"),
    c("key-file-folder", *RUN, env={"OPENAI_API_KEY_FILE": "{assets}"}, says="_FILE"),
    c("key-file-empty", *RUN, env={"OPENAI_API_KEY_FILE": "{assets}/empty.key"}, says="empty"),
    c("key-file-two-lines", *RUN, env={"OPENAI_API_KEY_FILE": "{assets}/two.key"}, says="line"),
    c("model-empty", *RUN, env={"COPYDESK_MODEL": ""}, says="COPYDESK_MODEL"),
    c("home-is-file", *RUN, env={"COPYDESK_HOME": "{assets}/empty.txt"}, says="not a folder"),
    c("home-under-file", *RUN, env={"COPYDESK_HOME": "{assets}/empty.txt/x"}, says="folder"),
    c("home-is-file-threads", "threads", env={"COPYDESK_HOME": "{assets}/empty.txt"}),
    c("home-empty", *RUN, env={"COPYDESK_HOME": ""}, says="COPYDESK_HOME"),
    c("home-blank-threads", "threads", env={"COPYDESK_HOME": "  "}, says="is empty"),
    c("checkpoint-url-no-path", "threads", env={"COPYDESK_CHECKPOINT_URL": "sqlite:///"}),
    c("checkpoint-url-scheme", *RUN, env={"COPYDESK_CHECKPOINT_URL": "mysql://h/db"}),
    c("checkpoint-url-port", *RUN, env={"COPYDESK_CHECKPOINT_URL": "postgresql://h:x/db"}),
    c("checkpoint-url-folder", "threads", env={"COPYDESK_CHECKPOINT_URL": "sqlite:///{assets}"}),
    c(
        "postgres-down-run",
        *RUN,
        env={"COPYDESK_CHECKPOINT_URL": f"postgresql://u:pw@{CLOSED}/x"},
        code=1,
        says="unreachable",
    ),
    c(
        "postgres-down-threads",
        "threads",
        env={"COPYDESK_CHECKPOINT_URL": f"postgresql://{CLOSED}/x"},
        code=1,
        says="unreachable",
    ),
    c(
        "postgres-down-history",
        "history",
        "t",
        env={"COPYDESK_CHECKPOINT_URL": f"postgresql://{CLOSED}/x"},
        code=1,
        says="unreachable",
    ),
    c(
        "store-down-run",
        *RUN,
        env={"COPYDESK_STORE_URL": f"postgresql://{CLOSED}/x"},
        code=1,
        says="COPYDESK_STORE_URL",
    ),
    c("store-url-scheme", *RUN, env={"COPYDESK_STORE_URL": "redis://h/0"}),
    c("store-url-port", *RUN, env={"COPYDESK_STORE_URL": "postgresql://h:0/x"}, says="port"),
    c("broker-url-port", "worker", env={"COPYDESK_BROKER_URL": "amqp://u:pw@h:/"}, says="port"),
    c("broker-url-scheme", "worker", env={"COPYDESK_BROKER_URL": "http://h/"}),
    c("redis-url-port", *RUN, env={"COPYDESK_REDIS_URL": "redis://h:0/0"}, says="port"),
    c("redis-url-scheme", *RUN, env={"COPYDESK_REDIS_URL": "http://h:6379"}),
    c("max-rounds-env-zero", *RUN, env={"COPYDESK_MAX_ROUNDS": "0"}, says="COPYDESK_MAX_ROUNDS"),
    c("max-rounds-env-text", *RUN, env={"COPYDESK_MAX_ROUNDS": "many"}),
    c("max-rounds-env-huge", *RUN, env={"COPYDESK_MAX_ROUNDS": "99999999999999999999999"}),
    c("timeout-negative", *RUN, env={"COPYDESK_REQUEST_TIMEOUT": "-1"}),
    c("retry-budget-inf", *RUN, env={"COPYDESK_RETRY_BUDGET": "inf"}, says="finite"),
    c("rpm-nan", *RUN, env={"COPYDESK_RPM": "nan"}),
    c("call-timeout-zero", *RUN, env={"COPYDESK_CALL_TIMEOUT": "0"}),
    c("memory-flag-text", *RUN, env={"COPYDESK_MEMORY": "maybe"}),
    c("log-level-unknown", *RUN, env={"COPYDESK_LOG_LEVEL": "LOUD"}),
    c("project-spaces", *RUN, env={"COPYDESK_PROJECT": "my project"}),
    c("queue-name", "worker", env={"COPYDESK_QUEUE": "1 queue"}),
    c("structured-output", *RUN, env={"COPYDESK_STRUCTURED_OUTPUT": "xml"}),
    c("local-embedder", *RUN, env={"COPYDESK_LOCAL_EMBEDDER": "word2vec"}),
    c("embedding-dims", *RUN, env={"COPYDESK_EMBEDDING_DIMS": "3"}),
    c("worker-concurrency-env", "worker", env={"COPYDESK_WORKER_CONCURRENCY": "0"}),
    c("max-connections", *RUN, env={"COPYDESK_MAX_CONNECTIONS": "0"}),
    c("context-tokens", *RUN, env={"COPYDESK_CONTEXT_TOKENS": "10"}),
    c("output-tokens-negative", *RUN, env={"COPYDESK_MAX_OUTPUT_TOKENS": "-5"}),
    c("summary-tokens", *RUN, env={"COPYDESK_SUMMARY_TOKENS": "-1"}),
    c("recall-k", *RUN, env={"COPYDESK_RECALL_K": "0"}),
    c("recall-tokens", *RUN, env={"COPYDESK_RECALL_TOKENS": "1"}),
    c("window-tokens", *RUN, env={"COPYDESK_WINDOW_TOKENS": "2"}),
    c("tpm-zero", *RUN, env={"COPYDESK_TPM": "0"}),
    c("max-retries", *RUN, env={"COPYDESK_MAX_RETRIES": "51"}),
    c("price-per-1k", "prompts", "list", env={"COPYDESK_PRICE_PER_1K_TOKENS": "-1"}),
    c(
        "prices-missing",
        *RUN,
        env={"COPYDESK_PRICES": "{assets}/none.toml"},
        says="COPYDESK_PRICES",
    ),
    c(
        "prices-not-toml",
        *RUN,
        env={"COPYDESK_PRICES": "{assets}/binary.key"},
        says="COPYDESK_PRICES",
    ),
    c("prompts-dir-missing", *RUN, env={"COPYDESK_PROMPTS_DIR": "{assets}/none"}),
    c("prompts-dir-file", *RUN, env={"COPYDESK_PROMPTS_DIR": "{assets}/empty.txt"}),
    c("prompts-bad-toml", *RUN, env={"COPYDESK_PROMPTS_DIR": "{assets}/p-bad-toml"}),
    c(
        "prompts-unknown-field",
        *RUN,
        env={"COPYDESK_PROMPTS_DIR": "{assets}/p-field"},
        says="unknown field",
    ),
    c(
        "prompts-undeclared",
        *RUN,
        env={"COPYDESK_PROMPTS_DIR": "{assets}/p-variable"},
        says="not declared",
    ),
    c(
        "prompts-label-nowhere",
        *RUN,
        env={"COPYDESK_PROMPTS_DIR": "{assets}/p-label"},
        says="does not exist",
    ),
    c(
        "prompts-labels-toml",
        "prompts",
        "list",
        env={"COPYDESK_PROMPTS_DIR": "{assets}/p-labels-toml"},
        says="labels",
    ),
    c(
        "prompts-empty-dir",
        *RUN,
        env={"COPYDESK_PROMPTS_DIR": "{assets}/p-empty"},
        says="unknown prompt",
    ),
    c(
        "prompts-experiments",
        "prompts",
        "experiments",
        env={"COPYDESK_PROMPTS_DIR": "{assets}/p-experiments"},
    ),
    c(
        "prompts-show-bad-toml",
        "prompts",
        "show",
        "writer@v1",
        env={"COPYDESK_PROMPTS_DIR": "{assets}/p-bad-toml"},
    ),
    c("toml-config-broken", *RUN, files={"copydesk.toml": "model = ["}, says="copydesk.toml"),
    c("toml-config-unknown", *RUN, files={"copydesk.toml": 'colour = "red"\n'}, says="colour"),
    c("toml-config-value", *RUN, files={"copydesk.toml": "max_rounds = -3\n"}),
    c("dotenv-value", *RUN, files={".env": "COPYDESK_MAX_ROUNDS=lots\n"}, says=".env"),
]

COMMANDS = [
    c("run-unknown-graph", "run", "nosuch", "--topic", "x", says="unknown graph"),
    c("run-missing-py", "run", "{cwd}/missing.py", "--topic", "x"),
    *[  # a graph file whose build() fails or gives no graph: one line naming the file
        c(
            f"{form}-{command}",
            *args,
            files={"g.py": f"def build(**options):\n    {body}\n"},
            says=says,
        )
        for form, body, says in [
            ("build-returns-int", "return 42", "g.py: build() returned int, not a LangGraph"),
            ("build-raises", "raise ValueError('nope')", "g.py: build() raised ValueError: nope"),
        ]
        for command, args in {
            "run": ("run", "{cwd}/g.py", "--topic", "x"),
            "graphs": ("graphs", "{cwd}/g.py"),
            "mermaid": ("graphs", "{cwd}/g.py", "--mermaid"),
            "run-many": ("run-many", "{assets}/topics.txt", "--graph", "{cwd}/g.py"),
        }.items()
    ],
    c("run-no-topic", "run", "turn_taking", says="topic"),
    c("run-blank-topic", "run", "turn_taking", "--topic", "   ", says="topic"),
    c("run-max-rounds-zero", *RUN, "--max-rounds", "0", says="max-rounds"),
    c("run-max-rounds-huge", *RUN, "--max-rounds", "1001"),
    c("run-max-rounds-text", *RUN, "--max-rounds", "abc", says="--max-rounds"),
    c("run-token-budget-negative", *RUN, "--token-budget", "-1", says="use a number from 0 to"),
    c("run-token-budget-huge", *RUN, "--token-budget", str(10**30), says="--token-budget"),
    c("run-max-cost-negative", *RUN, "--max-cost", "-1"),
    c("run-max-cost-inf", *RUN, "--max-cost", "inf"),
    c("run-thread-id", *RUN, "--thread-id", "a b", says="thread id"),
    c("run-thread-id-long", *RUN, "--thread-id", "a" * 129, says="(129 characters); use 1 to 128"),
    c("run-prompt-version", *RUN, "--prompt", "writer@v9", says="v9"),
    c("run-prompt-agent", *RUN, "--prompt", "nobody@v1"),
    c("run-prompt-shape", *RUN, "--prompt", "writer"),
    c("run-experiment", *RUN, "--experiment", "nosuch", says="experiment"),
    c("run-unknown-flag", *RUN, "--colour", "red", says="--colour"),
    c("run-other-topic", *RUN, "--thread-id", THREAD, home="thread", says="is about"),
    c("resume-no-store", "resume", "nosuch", says="unknown thread"),
    c("resume-unknown", "resume", "nosuch", home="thread", says="unknown thread"),
    c("resume-both-answers", "resume", THREAD, "--approve", "--feedback", "x", home="thread"),
    c("resume-blank-feedback", "resume", THREAD, "--feedback", "  ", home="thread"),
    c("resume-not-waiting", "resume", THREAD, "--approve", home="thread", says="not waiting"),
    c("fork-no-checkpoint-flag", "fork", THREAD, home="thread", says="--checkpoint"),
    c("fork-unknown-checkpoint", "fork", THREAD, "--checkpoint", "nosuch", home="thread"),
    c("fork-unknown-thread", "fork", "nosuch", "--checkpoint", "{checkpoint}", home="thread"),
    c(
        "fork-rounds-text",
        "fork",
        THREAD,
        "--checkpoint",
        "{checkpoint}",
        "--set",
        "max_rounds=many",
        home="thread",
        says="max_rounds",
    ),
    c(
        "fork-rounds-huge",
        "fork",
        THREAD,
        "--checkpoint",
        "{checkpoint}",
        "--set",
        f"max_rounds={10**20}",
        home="thread",
        says="max_rounds",
    ),
    c(
        "fork-rounds-zero",
        "fork",
        THREAD,
        "--checkpoint",
        "{checkpoint}",
        "--set",
        "max_rounds=0",
        home="thread",
    ),
    c(
        "fork-rounds-bool",
        "fork",
        THREAD,
        "--checkpoint",
        "{checkpoint}",
        "--set",
        "max_rounds=true",
        home="thread",
    ),
    c(
        "fork-topic-empty",
        "fork",
        THREAD,
        "--checkpoint",
        "{checkpoint}",
        "--set",
        "topic=",
        home="thread",
        says="topic",
    ),
    c(
        "fork-budget-huge",
        "fork",
        THREAD,
        "--checkpoint",
        "{checkpoint}",
        "--set",
        "token_budget=1e30",
        home="thread",
        says="token_budget",
    ),
    c(
        "fork-cost-negative",
        "fork",
        THREAD,
        "--checkpoint",
        "{checkpoint}",
        "--set",
        "max_cost=-2",
        home="thread",
    ),
    c(
        "fork-review-text",
        "fork",
        THREAD,
        "--checkpoint",
        "{checkpoint}",
        "--set",
        "review=maybe",
        home="thread",
    ),
    c(
        "fork-status",
        "fork",
        THREAD,
        "--checkpoint",
        "{checkpoint}",
        "--set",
        "status=done",
        home="thread",
    ),
    c(
        "fork-round-fraction",
        "fork",
        THREAD,
        "--checkpoint",
        "{checkpoint}",
        "--set",
        "round=1.5",
        home="thread",
    ),
    c(
        "fork-unknown-key",
        "fork",
        THREAD,
        "--checkpoint",
        "{checkpoint}",
        "--set",
        "colour=red",
        home="thread",
        says="colour",
    ),
    c(
        "fork-no-equals",
        "fork",
        THREAD,
        "--checkpoint",
        "{checkpoint}",
        "--set",
        "topic",
        home="thread",
    ),
    c(
        "fork-new-id-bad",
        "fork",
        THREAD,
        "--checkpoint",
        "{checkpoint}",
        "--thread-id",
        "a/b",
        home="thread",
        says="thread id",
    ),
    c(
        "fork-new-id-taken",
        "fork",
        THREAD,
        "--checkpoint",
        "{checkpoint}",
        "--thread-id",
        THREAD,
        home="thread",
        says="exists",
    ),
    c(
        "fork-prompt",
        "fork",
        THREAD,
        "--checkpoint",
        "{checkpoint}",
        "--prompt",
        "editor@v9",
        home="thread",
    ),
    c("history-unknown", "history", "nosuch", home="thread", says="unknown thread"),
    c("export-unknown", "export", "nosuch", home="thread", says="unknown thread"),
    c("export-to-folder", "export", THREAD, "-o", "{assets}", home="thread", says="folder"),
    c("export-missing-folder", "export", THREAD, "-o", "{cwd}/no/x.md", home="thread"),
    c("export-docx-no-output", "export", THREAD, "--format", "docx", home="thread"),
    c(
        "export-docx-missing-folder",
        "export",
        THREAD,
        "--format",
        "docx",
        "-o",
        "{cwd}/no/x.docx",
        home="thread",
    ),
    c("export-format", "export", THREAD, "--format", "pdf", home="thread", says="--format"),
    c(
        "export-format-not-suffix",
        "export",
        THREAD,
        "--format",
        "md",
        "-o",
        "{cwd}/x.docx",
        home="thread",
        says="contradicts -o",
    ),
    c("export-against-md", "export", THREAD, "--against", "1", home="thread", says="--against"),
    c(
        "export-against-json",
        "export",
        THREAD,
        "-o",
        "{cwd}/x.json",
        "--against",
        "1",
        home="thread",
        says="Word export only",
    ),
    c("graphs-unknown", "graphs", "nosuch", says="unknown graph"),
    c("graphs-mermaid-no-name", "graphs", "--mermaid"),
    c("memory-search-empty", "memory", "search", "", home="thread", says="query"),
    c("memory-search-blank", "memory", "search", "   ", home="thread", says="query"),
    c("memory-search-limit", "memory", "search", "trees", "--limit", "0"),
    c("memory-forget-nothing", "memory", "forget", home="thread"),
    c("memory-forget-key-alone", "memory", "forget", "--key", "k", home="thread"),
    c("memory-forget-both", "memory", "forget", "--thread", "a", "--project", "b"),
    c("prune-negative", "prune", "--keep-last", "-1", home="thread"),
    c("prune-memory-url", "prune", env={"COPYDESK_CHECKPOINT_URL": "memory:"}),
    c("prune-unknown-thread", "prune", "--thread", "nosuch", home="thread", says="'nosuch'"),
    c("prune-no-store-thread", "prune", "--thread", "nosuch", says="unknown thread 'nosuch'"),
    c("prompts-show-unknown", "prompts", "show", "writer@v9", says="v9"),
    c("prompts-show-name", "prompts", "show", "nobody@v1"),
    c("prompts-show-no-name", "prompts", "show", "@v1", says="no prompt name before '@'"),
    c("prompts-show-at", "prompts", "show", "@", says="no prompt name"),
    c("prompts-show-no-version", "prompts", "show", "writer@", says="nothing after '@'"),
    c("prompts-show-two-ats", "prompts", "show", "writer@@v1", says="more than one '@'"),
    c("prompts-show-space", "prompts", "show", "writer @v1", says="whitespace"),
    c("prompts-show-empty", "prompts", "show", "", says="empty"),
    c("prompts-show-outside", "prompts", "show", "../prompts/writer@v1", says="unknown prompt"),
    c("prompts-diff-no-name", "prompts", "diff", "", "v1", "v2", says="no prompt name"),
    c("prompts-release-no-name", "prompts", "release", "@v1", says="no prompt name"),
    c("run-prompt-two-ats", *RUN, "--prompt", "editor@@v2", says="more than one '@'"),
    c("prompts-diff-unknown", "prompts", "diff", "writer", "v1", "v9"),
    c("prompts-release-unknown", "prompts", "release", "writer@v9"),
    c("prompts-ab-unknown", "prompts", "ab-report", "nosuch", says="experiment"),
    c("prompts-ab-price", "prompts", "ab-report", "editor-rubric", "--price-per-1k", "-1"),
    c("prompts-no-such-command", "prompts", "publish", says="publish"),
    c("usage-unknown-thread", "usage", "nosuch", home="thread", says="nosuch"),
    c("serve-public-no-token", "serve", "--host", "0.0.0.0", says="COPYDESK_SERVE_TOKEN"),
    c("serve-short-token", "serve", env={"COPYDESK_SERVE_TOKEN": "short"}, says="short"),
    c("serve-port-zero", "serve", "--port", "0", says="--port"),
    c("serve-port-huge", "serve", "--port", "70000"),
    c(
        "serve-postgres-down",
        "serve",
        env={"COPYDESK_CHECKPOINT_URL": f"postgresql://{CLOSED}/x"},
        code=1,
        says="unreachable",
    ),
    c("worker-sqlite", "worker", says="COPYDESK_CHECKPOINT_URL"),
    c("worker-concurrency", "worker", "--concurrency", "0"),
    c(
        "worker-postgres-down",
        "worker",
        env={"COPYDESK_CHECKPOINT_URL": f"postgresql://{CLOSED}/x"},
        code=1,
        says="unreachable",
    ),
    c("submit-sqlite", "submit", "turn_taking", "--topic", "x", says="COPYDESK_CHECKPOINT_URL"),
    c(
        "submit-postgres-down",
        "submit",
        "turn_taking",
        "--topic",
        "x",
        env={"COPYDESK_CHECKPOINT_URL": f"postgresql://{CLOSED}/x"},
        code=1,
        says="unreachable",
    ),
    c("submit-cost", "submit", "turn_taking", "--topic", "x", "--max-cost", "-1"),
    # input before what the queue needs (PostgreSQL is not configured in these cases)
    c("submit-no-topic", "submit", "turn_taking", says="the topic is empty"),
    c("submit-empty-topic", "submit", "turn_taking", "--topic", "", says="the topic is empty"),
    c("submit-blank-topic", "submit", "turn_taking", "--topic", "  ", says="the topic is empty"),
    c("submit-long-topic", "submit", "turn_taking", "--topic", "x" * 10_001, says="--topic="),
    c("submit-thread-id", "submit", "turn_taking", "--topic", "x", "--thread-id", "a b"),
    c("run-many-missing", "run-many", "{cwd}/none.txt", "--graph", "turn_taking"),
    c("run-many-empty", "run-many", "{assets}/empty.txt", "--graph", "turn_taking"),
    c("run-many-binary", "run-many", "{assets}/binary.key", "--graph", "turn_taking"),
    c("run-many-folder", "run-many", "{assets}", "--graph", "turn_taking"),
    c("run-many-graph", "run-many", "{assets}/topics.txt", "--graph", "nosuch"),
    c("run-many-no-wait", "run-many", "{assets}/topics.txt", "--graph", "turn_taking", "--no-wait"),
    c(
        "run-many-concurrency",
        "run-many",
        "{assets}/topics.txt",
        "--graph",
        "turn_taking",
        "--concurrency",
        "0",
    ),
    c("run-many-no-graph", "run-many", "{assets}/topics.txt", says="--graph"),
    *[  # every line is checked by --topic's rule (at most 10,000 characters) before any runs
        c(
            "run-many-long-line" + ("-queue" if queue else ""),
            "run-many",
            "{assets}/long-topic.txt",
            "--graph",
            "turn_taking",
            *queue,
            says="long-topic.txt line 3=",
        )
        for queue in [(), ("--queue",)]
    ],
    c("unknown-command", "publish", says="publish"),
    c(
        "run-into-user-file",
        *RUN,
        env={"COPYDESK_CHECKPOINT_URL": "sqlite:///{assets}/binary.key"},
        says="not a SQLite database",
    ),
    c(
        "threads-on-text-file",
        "threads",
        env={"COPYDESK_CHECKPOINT_URL": "sqlite:///{assets}/topics.txt"},
        says="topics.txt",
    ),
    c(
        "export-against-huge",
        "export",
        THREAD,
        "--format",
        "docx",
        "-o",
        "{cwd}/x.docx",
        "--against",
        str(10**20),
        home="thread",
        says="--against",
    ),
    c("resume-queue-sqlite", "resume", THREAD, "--queue", home="thread"),
    c(
        "run-many-queue-sqlite",
        "run-many",
        "{assets}/topics.txt",
        "--graph",
        "turn_taking",
        "--queue",
    ),
    c(
        "memory-search-damaged",
        "memory",
        "search",
        "trees",
        home="memory-damaged",
        says="items.sqlite",
    ),
    c("memory-stats-damaged", "memory", "stats", home="memory-damaged", says="items.sqlite"),
    c(
        "memory-forget-damaged",
        "memory",
        "forget",
        "--thread",
        THREAD,
        home="memory-damaged",
        says="items.sqlite",
    ),
]

DAMAGED = [
    c(f"{form}-{'-'.join(args[:1])}", *args, home=form, says="checkpoints.sqlite")
    for form, commands in {
        "random": [
            ("threads",),
            ("history", THREAD),
            ("resume", THREAD),
            RUN,
            ("prune",),
            ("serve",),
        ],
        "truncated": [
            ("threads",),
            ("export", THREAD),
            ("run", "turn_taking", "--thread-id", THREAD),
        ],
        "unknown-type": [("history", THREAD), ("resume", THREAD), ("threads",)],
        "not-checkpoint": [
            ("threads",),
            ("export", THREAD),
            ("fork", THREAD, "--checkpoint", "{checkpoint}"),
        ],
        "bad-metadata": [("history", THREAD), ("threads",)],
        "db-folder": [("threads",), RUN],
    }.items()
    for args in commands
]

USAGE_FOLDER = [  # every model call appends to it: refused when settings load, like the home
    c(f"usage-folder-{args[0]}", *args, home="usage-folder", says="usage.jsonl is a folder")
    for args in [RUN, ("usage",), ("resume", THREAD)]
] + [  # a run would fail after its first checkpoint: refused when settings load too
    c(f"{form}-{args[0]}", *args, home=form, says=says)
    for form, says in [
        ("transcripts-file", "transcripts is a file"),
        ("memory-file", "memory is a file"),
        ("audit-folder", "audit.log is a folder"),
    ]
    for args in [RUN, ("resume", THREAD)]
]

CASES = SETTINGS + COMMANDS + DAMAGED + USAGE_FOLDER


# --- homes and assets ------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A home with one finished thread (`THREAD`, offline model, one round)."""

    home: Path
    checkpoint: str
    """The thread's first checkpoint."""


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    import asyncio

    from copydesk.graphs.manager import ConversationManager

    home = tmp_path_factory.mktemp("template") / "home"
    nowhere = home.parent / "nowhere"
    flags = {"home": home, "offline": True, "local_embedder": "lexical", "max_rounds": 1}
    settings = ConfigManager(flags=flags, env_file=nowhere, config_file=nowhere).settings

    async def make() -> str:
        async with ConversationManager(settings) as manager:
            await manager.run("turn_taking", topic="Trees in cities", thread_id=THREAD)
            return (await manager.history(THREAD))[-1].checkpoint_id

    return Template(home, asyncio.run(make()))


def _last_row(db: Path, sql: str, *args: Any) -> None:
    connection = sqlite3.connect(db)
    with connection:
        connection.execute(f"{sql} WHERE rowid = (SELECT max(rowid) FROM checkpoints)", args)
    connection.close()  # the last connection out folds the WAL back: the home is at rest


def _damage(home: Path, form: str) -> None:
    db = home / "checkpoints.sqlite"
    if form == "random":
        db.write_bytes(os.urandom(3000) + b"SQLite format 3\x00")
    elif form == "truncated":
        with db.open("r+b") as file:
            file.truncate(db.stat().st_size // 2)
    elif form == "unknown-type":
        _last_row(db, "UPDATE checkpoints SET type = 'pickle-of-doom'")
    elif form == "not-checkpoint":
        _last_row(db, "UPDATE checkpoints SET checkpoint = ?", ormsgpack.packb([1, 2, 3]))
    elif form == "bad-metadata":
        _last_row(db, "UPDATE checkpoints SET metadata = ?", b"\x00\xff")
    elif form == "memory-damaged":
        (home / "memory" / "items.sqlite").write_bytes(os.urandom(5000))
    elif form == "usage-folder":
        (home / "usage.jsonl").unlink()
        (home / "usage.jsonl" / "inside").mkdir(parents=True)
    elif form in ("transcripts-file", "memory-file"):
        part = home / form.removesuffix("-file")
        shutil.rmtree(part, ignore_errors=True)
        part.write_text("not a folder\n", encoding="utf-8")
    elif form == "audit-folder":
        (home / "audit.log").unlink(missing_ok=True)
        (home / "audit.log" / "inside").mkdir(parents=True)
    elif form == "db-folder":
        for extra in home.glob("checkpoints.sqlite*"):
            extra.unlink()
        (db / "inside").mkdir(parents=True)


def _prompts(root: Path, name: str, change: Any) -> None:
    target = root / name
    shutil.copytree(DEFAULT_PROMPTS_DIR, target, ignore=shutil.ignore_patterns("*.py", "__*"))
    change(target)


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files the cases point at; none of them is ever written by a case."""
    root = tmp_path_factory.mktemp("assets")
    (root / "binary.key").write_bytes(bytes(range(256)) * 4)
    (root / "empty.key").write_text("", encoding="utf-8")
    (root / "two.key").write_text(f"{CANARY}\nsecond line\n", encoding="utf-8")
    (root / "empty.txt").write_text("\n \n", encoding="utf-8")
    (root / "topics.txt").write_text("Trees\nRivers\n", encoding="utf-8")
    (root / "long-topic.txt").write_text("Trees\n\n" + "b" * 20_000 + "\n", encoding="utf-8")
    writer = Path("writer/v1.toml")
    _prompts(root, "p-bad-toml", lambda p: _append(p / writer, "\nbroken = [\n"))
    _prompts(root, "p-field", lambda p: _append(p / writer, '\ncolour = "red"\n'))
    _prompts(
        root,
        "p-variable",
        lambda p: (p / writer).write_text(
            (p / writer).read_text(encoding="utf-8").replace("{topic}", "{topic} {mood}", 1),
            encoding="utf-8",
        ),
    )
    _prompts(
        root,
        "p-label",
        lambda p: (p / "labels.toml").write_text(
            '[writer]\nproduction = "v7"\n\n[editor]\nproduction = "v1"\n', encoding="utf-8"
        ),
    )
    _prompts(root, "p-labels-toml", lambda p: _append(p / "labels.toml", "\n[[[\n"))
    _prompts(root, "p-experiments", lambda p: _append(p / "experiments.toml", "\n[[[\n"))
    (root / "p-empty").mkdir()
    return root


def snapshot(root: Path) -> dict[str, tuple[int, int]] | None:
    """File names, sizes and mtimes under `root` (folders by name); None if it is absent."""
    if not root.exists():
        return None
    if root.is_file():
        stat = root.stat()
        return {".": (stat.st_size, stat.st_mtime_ns)}
    found: dict[str, tuple[int, int]] = {}
    for path in sorted(root.rglob("*")):
        stat = path.stat()
        name = str(path.relative_to(root))
        found[name] = (-1, 0) if path.is_dir() else (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    return build()


@pytest.fixture
def quiet_logging() -> Iterator[None]:
    """Each command sets up logging on the runner's stderr; put the test's back after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers, root.level = handlers, level


def _fill(text: str, places: Mapping[str, str]) -> str:
    for name, value in places.items():
        text = text.replace("{" + name + "}", value)
    return text


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_line(
    case: Case,
    app: typer.Typer,
    template: Template,
    assets: Path,
    tmp_path: Path,
    quiet_logging: None,
) -> None:
    home = tmp_path / "home"
    if case.home != "none":
        shutil.copytree(template.home, home)
        _damage(home, case.home)
    for name, text in case.files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    places = {
        "home": str(home),
        "assets": str(assets),
        "cwd": str(tmp_path),
        "checkpoint": template.checkpoint,
    }
    env = {"COPYDESK_HOME": str(home), "COPYDESK_OFFLINE": "1"}
    env |= {name: _fill(value, places) for name, value in case.env.items()}
    args = [_fill(arg, places) for arg in case.args]
    watched = Path(env["COPYDESK_HOME"])
    before, assets_before = snapshot(watched), snapshot(assets)

    result = CliRunner().invoke(app, args, env=env)

    if result.exception is not None and not isinstance(result.exception, SystemExit):
        trace = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"uncaught {type(result.exception).__name__}:\n{trace}\n{result.stderr}")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    shown = f"exit {result.exit_code}\nstderr:\n{result.stderr}\nstdout:\n{result.stdout}"
    assert result.exit_code == case.code, shown
    assert len(lines) == 1, shown
    assert lines[0].startswith("copydesk: error: "), shown
    assert case.says.lower() in lines[0].lower(), shown
    assert "Traceback" not in result.stderr + result.stdout, shown
    assert CANARY not in result.stderr + result.stdout, shown
    assert snapshot(watched) == before, f"COPYDESK_HOME changed\n{shown}"
    assert snapshot(assets) == assets_before


def test_the_table_is_broad() -> None:
    """At least 80 cases, over every command and many settings."""
    commands = {case.args[0] for case in CASES}
    settings = {name for case in CASES for name in case.env}
    assert len(CASES) >= 80
    assert {
        "run",
        "resume",
        "fork",
        "threads",
        "history",
        "export",
        "graphs",
        "memory",
        "prune",
        "prompts",
        "usage",
        "serve",
        "worker",
        "submit",
        "run-many",
    } <= commands
    assert len(settings) >= 30
    assert len({case.id for case in CASES}) == len(CASES)


# --- a fresh process: the console script itself ---------------------------------------------

ENTRY = "from copydesk.graphs.cli import main; main()"


@pytest.mark.parametrize(
    ("args", "env", "code"),
    [
        (["run", "turn_taking", "--topic", "x"], {"OPENAI_BASE_URL": "http://127.0.0.1:/v1"}, 2),
        (["threads"], {"COPYDESK_CHECKPOINT_URL": f"postgresql://{CLOSED}/x"}, 1),
        (["run", "turn_taking", "--max-rounds", "abc"], {}, 2),
    ],
    ids=["setting", "storage-down", "bad-flag"],
)
def test_console_script_prints_one_line(
    args: list[str], env: dict[str, str], code: int, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "COPYDESK_"))}
    clean |= {"COPYDESK_HOME": str(home), "COPYDESK_OFFLINE": "1", **env}
    proc = subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        env=clean,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == code, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("copydesk: error: ")
    assert not home.exists()


def test_debug_log_level_adds_no_traceback(
    app: typer.Typer, tmp_path: Path, quiet_logging: None
) -> None:
    """Even at DEBUG (library logs on) the failure is its one line: a chained error could
    quote a secret the user gave (here the URL's password)."""
    env = {
        "COPYDESK_HOME": str(tmp_path / "home"),
        "COPYDESK_CHECKPOINT_URL": f"postgresql://u:{CANARY}@{CLOSED}/x",
        "COPYDESK_LOG_LEVEL": "DEBUG",
    }
    result = CliRunner().invoke(app, ["threads"], env=env)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("copydesk: error:")]
    assert len(errors) == 1 and "postgresql://u:***@" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert CANARY not in result.stderr + result.stdout


def test_a_bug_keeps_its_traceback(app: typer.Typer, tmp_path: Path) -> None:
    """Only user and environment failures become one line; anything else is a bug."""
    from copydesk.graphs.cli.boundary import explain

    assert explain(ZeroDivisionError("bug")) is None
    assert explain(KeyError("bug")) is None
    assert explain(OSError("socket trouble")) is None  # no path the user could fix


@pytest.mark.parametrize(
    "args",
    [
        (*RUN, "--thread-id"),
        ("fork", THREAD, "--checkpoint", "{checkpoint}", "--thread-id"),
        ("submit", "turn_taking", "--topic", "x", "--thread-id"),
    ],
    ids=["run", "fork", "submit"],
)
def test_a_long_thread_id_is_named_by_its_start_and_length(
    args: tuple[str, ...], app: typer.Typer, template: Template, tmp_path: Path, quiet_logging: None
) -> None:
    """A 5,000-character id is refused with the 128-character limit, its first 40
    characters and its length, not echoed whole."""
    home = tmp_path / "home"
    shutil.copytree(template.home, home)
    env = {"COPYDESK_HOME": str(home), "COPYDESK_OFFLINE": "1"}
    given = [arg.replace("{checkpoint}", template.checkpoint) for arg in args]
    result = CliRunner().invoke(app, [*given, "b" * 5000], env=env)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.strip() == (
        f"copydesk: error: invalid thread id '{'b' * 40}...' (5000 characters); use 1 to 128 "
        "letters, digits, '.', '_' or '-', starting with a letter or digit"
    )


def test_damaged_usage_lines_are_left_out_with_one_warning(
    app: typer.Typer, template: Template, tmp_path: Path, quiet_logging: None
) -> None:
    """`copydesk usage` over a log with binary bytes, a JSON list and wrong-typed calls adds
    up the good lines and names the file and how many it skipped, in one warning."""
    home = tmp_path / "home"
    shutil.copytree(template.home, home)
    log = home / "usage.jsonl"
    env = {"COPYDESK_HOME": str(home), "COPYDESK_OFFLINE": "1"}
    clean = CliRunner().invoke(app, ["usage", "--json"], env=env)
    assert clean.exit_code == 0 and not clean.stderr.strip(), clean.stderr
    with log.open("ab") as file:
        file.write(bytes(range(128, 256)) + b"\n")
        file.write(b"[1, 2]\n")
        file.write(b'{"thread_id": "t1", "agent": "writer", "prompt_tokens": "lots"}\n')
        file.write(b'{"thread_id": ["t1"], "agent": "writer"}\n')
        file.write(b'{"thread_id": "t1", "agent": "writer", "cost_usd": true}\n')
    before = snapshot(home)

    result = CliRunner().invoke(app, ["usage", "--json"], env=env)

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(clean.stdout)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"skipped 5 damaged lines of {log}" in lines[0], result.stderr
    assert snapshot(home) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_read_only_home_is_one_line(
    app: typer.Typer, template: Template, tmp_path: Path, quiet_logging: None
) -> None:
    home = tmp_path / "home"
    shutil.copytree(template.home, home)
    before = snapshot(home)
    home.chmod(0o555)
    try:
        env = {"COPYDESK_HOME": str(home), "COPYDESK_OFFLINE": "1"}
        result = CliRunner().invoke(app, ["run", "turn_taking", "--topic", "Trees"], env=env)
    finally:
        home.chmod(0o755)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "read-only" in result.stderr
    assert snapshot(home) == before


async def test_review_pages_name_a_damaged_store(template: Template, tmp_path: Path) -> None:
    """The pages of `copydesk serve` say what the command line says: which database is
    damaged and what to do (500), with no traceback in the page."""
    import httpx

    from copydesk.graphs.web import create_app

    home = tmp_path / "home"
    shutil.copytree(template.home, home)
    _damage(home, "unknown-type")
    before = snapshot(home)
    flags = {"home": home, "offline": True, "local_embedder": "lexical"}
    nowhere = tmp_path / "nowhere"
    settings = ConfigManager(flags=flags, env_file=nowhere, config_file=nowhere).settings
    app = create_app(settings, token="")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        page = await http.get("/desk/")
        await app.state.runtime.aclose()
    assert page.status_code == 500
    assert "checkpoints.sqlite is damaged" in page.text and "Traceback" not in page.text
    assert snapshot(home) == before
