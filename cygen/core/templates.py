"""The one jinja2 environment (strict about undefined names) for every template cygen renders.

Templates live beside the code that fills them: the generated module's in
``cygen/compiler/templates``, the run report's in ``cygen/evaluate/templates``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

__all__ = ["environment"]


@cache
def environment(directory: str | Path) -> jinja2.Environment:
    """The environment for the templates in ``directory``: ``StrictUndefined``, trimmed
    blocks; ``*.html.j2`` templates are autoescaped, Python templates are not."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False,
                                            default_for_string=False),
    )
