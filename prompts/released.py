"""The release lock: a content hash per released prompt version, kept in `released.toml`.

A released version is never edited; a change is a new version. The hash makes an edit
visible: `copydesk prompts lint` fails when a released file no longer matches it.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from copydesk.prompts.errors import PromptError
from copydesk.prompts.registry import PromptRegistry

__all__ = ["LOCK_FILE", "ReleaseLock", "content_hash"]

LOCK_FILE = "released.toml"
_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")
_HEADER = (
    "# sha256 of every released prompt version. Never edit a released file: copy it to a new\n"
    "# version, edit that, then run `copydesk prompts release NAME@VERSION`.\n"
)


def content_hash(path: Path) -> str:
    """`sha256:<hex>` of a file's text with line endings normalised (a Windows checkout
    of an unchanged file hashes the same)."""
    text = path.read_bytes().replace(b"\r\n", b"\n")
    return "sha256:" + hashlib.sha256(text).hexdigest()


@dataclass(frozen=True)
class ReleaseLock:
    """The released hashes of one prompt folder."""

    registry: PromptRegistry

    @property
    def path(self) -> Path:
        """The lock file."""
        return self.registry.root / LOCK_FILE

    def hashes(self) -> dict[str, dict[str, str]]:
        """`{name: {version: hash}}` of every released version."""
        if not self.path.exists():
            return {}
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise PromptError(f"cannot read {self.path}: {error}") from error
        return {str(n): {str(v): str(h) for v, h in t.items()} for n, t in data.items()}

    def is_released(self, name: str, version: str) -> bool:
        """True when `name@version` has a recorded hash."""
        return version in self.hashes().get(name, {})

    def release(self, ref: str) -> str:
        """Record the hash of `ref` (validated first); returns the resolved `name@version`.

        Raises:
            PromptError: The template is invalid, or the version is already released with
                different content.
        """
        if "@" not in ref:
            raise PromptError(f"release needs NAME@VERSION, e.g. editor@v3, not {ref!r}")
        template = self.registry.get(ref)
        name, version = template.name, template.version
        if not (_SAFE.match(name) and _SAFE.match(version)):
            raise PromptError(f"prompt {template.ref}: use letters, digits, '.', '_' or '-'")
        digest = content_hash(self.registry.path(name, version))
        hashes = self.hashes()
        known = hashes.get(name, {}).get(version)
        if known is not None and known != digest:
            raise PromptError(
                f"prompt {template.ref} is released already and its file was edited since; "
                f"restore it and release the change as a new version"
            )
        hashes.setdefault(name, {})[version] = digest
        self._write(hashes)
        return template.ref

    def _write(self, hashes: dict[str, dict[str, str]]) -> None:
        parts = [_HEADER]
        for name in sorted(hashes):
            parts.append(f"\n[{name}]\n")
            for version in self.registry.versions(name) + sorted(hashes[name]):
                if version in hashes[name]:
                    parts.append(f'{version} = "{hashes[name].pop(version)}"\n')
        temporary = self.path.with_suffix(".toml.tmp")
        temporary.write_text("".join(parts), encoding="utf-8")
        temporary.replace(self.path)
