"""A griffe extension for the API reference (mkdocs.yml loads it; it is not a page).

A package that imports a name from its own submodule of the same name (`copydesk.prompts`
does `from copydesk.prompts.lint import lint`) has the imported object under that name at
run time, but griffe, reading the source, sees the submodule there. This points the name at
the imported object, as Python does, so the reference documents the function.
"""

from __future__ import annotations

from typing import Any

import griffe


def _objects(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_objects(member))  # type: ignore[arg-type]
    return found


def _aliases(obj: griffe.Object) -> list[griffe.Alias]:
    return [m for o in _objects(obj) for m in o.members.values() if m.is_alias]  # type: ignore[misc]


class ImportsShadowingSubmodules(griffe.Extension):
    """Give a package's name to what it imports, not to the submodule of the same name."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        # Resolve every alias first: once a submodule is hidden, paths through it no longer walk.
        for alias in _aliases(pkg):
            try:
                alias.final_target  # noqa: B018 - resolving caches the target
            except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                continue
        for module in [o for o in _objects(pkg) if o.is_module]:
            for name, target in module.imports.items():
                member = module.members.get(name)
                if member is None or member.is_alias or not member.is_module:
                    continue
                if target != f"{member.path}.{name}" or name not in member.members:
                    continue
                imported = member.members[name]
                module.set_member(name, griffe.Alias(name, imported, parent=module))
