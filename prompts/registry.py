"""Find prompt templates by `name@version` or `name@label` in a folder of TOML files."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from copydesk.prompts.template import PromptError, PromptTemplate

__all__ = ["DEFAULT_PROMPTS_DIR", "PromptRegistry"]

DEFAULT_PROMPTS_DIR = Path(__file__).resolve().parent
"""The shipped prompt folder, used when `COPYDESK_PROMPTS_DIR` is not set."""
_DEFAULT_LABEL = "production"


@dataclass(frozen=True)
class PromptRegistry:
    """Prompt files laid out as `<root>/<name>/<version>.toml`, labels in `<root>/labels.toml`."""

    root: Path = DEFAULT_PROMPTS_DIR

    def names(self) -> list[str]:
        """Prompt names that have at least one version."""
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and any(p.glob("*.toml")))

    def versions(self, name: str) -> list[str]:
        """Released versions of `name`, oldest first."""
        files = (self.root / name).glob("*.toml")
        return sorted((p.stem for p in files), key=lambda v: (len(v), v))

    def labels(self) -> dict[str, dict[str, str]]:
        """`{name: {label: version}}` from the labels file."""
        path = self.root / "labels.toml"
        if not path.exists():
            return {}
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise PromptError(f"cannot read prompt labels {path}: {error}") from error
        return {str(n): {str(k): str(v) for k, v in t.items()} for n, t in data.items()}

    def _parse(self, ref: str) -> tuple[str, str, list[str]]:
        """Split `name`, `name@version` or `name@label` into a known name, its selector
        (`production` for a bare name) and its versions, each malformed form named by its own
        error. The folder is listed only to name the known prompts in an error."""

        def known() -> str:
            return ", ".join(self.names()) or "none"

        if not ref.strip():
            raise PromptError(
                "the prompt reference is empty; write NAME@VERSION or NAME@LABEL, e.g. "
                "editor@v2 (`copydesk prompts list` shows every version)"
            )
        if "".join(ref.split()) != ref:
            compact = "".join(ref.split())
            raise PromptError(f"prompt reference {ref!r} contains whitespace; write {compact!r}")
        if ref.count("@") > 1:
            raise PromptError(
                f"prompt reference {ref!r} has more than one '@'; write NAME@VERSION or "
                "NAME@LABEL, e.g. editor@v2"
            )
        name, at, selector = ref.partition("@")
        if not name:
            raise PromptError(
                f"prompt reference {ref!r} has no prompt name before '@'; write NAME@VERSION "
                f"with NAME one of: {known()} (`copydesk prompts list` shows every version)"
            )
        # A plain folder name only: `../x` or `.hidden` never reads outside the prompt folders.
        inside = Path(name).name == name and not name.startswith(".")
        versions = self.versions(name) if inside else []
        if not versions:
            raise PromptError(f"unknown prompt {name!r}; known prompts: {known()}")
        if at and not selector:
            choices = ", ".join([*versions, *self.labels().get(name, {})])
            raise PromptError(
                f"prompt reference {ref!r} has nothing after '@'; add a version or label of "
                f"{name!r}: {choices}"
            )
        return name, selector or _DEFAULT_LABEL, versions

    def resolve(self, ref: str) -> tuple[str, str]:
        """Turn `name`, `name@version` or `name@label` into `(name, version)`.

        Raises:
            PromptError: A malformed reference (empty, whitespace, no name, nothing after
                `@`, two `@`), or a name, version or label that does not exist.
        """
        name, selector, versions = self._parse(ref)
        if selector in versions:
            return name, selector
        label_map = self.labels().get(name, {})
        if selector in label_map:
            version = label_map[selector]
            if version not in versions:
                raise PromptError(
                    f"label {selector!r} of prompt {name!r} points at {version!r}, which does "
                    f"not exist; fix {self.root / 'labels.toml'} (versions: {', '.join(versions)})"
                )
            return name, version
        if selector == _DEFAULT_LABEL:
            return name, versions[-1]
        choices = ", ".join([*versions, *label_map])
        raise PromptError(f"prompt {name!r} has no version or label {selector!r}; use {choices}")

    def path(self, name: str, version: str) -> Path:
        """The file of `name@version` (which may not exist)."""
        return self.root / name / f"{version}.toml"

    def get(self, ref: str) -> PromptTemplate:
        """Load and validate the template `ref` names.

        Raises:
            PromptError: Unknown reference, unreadable file or invalid template.
        """
        name, version = self.resolve(ref)
        path = self.path(name, version)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise PromptError(f"prompt {name}@{version}: no file {path}") from error
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise PromptError(f"prompt {name}@{version}: cannot read {path}: {error}") from error
        return PromptTemplate.from_mapping(name, version, data)
