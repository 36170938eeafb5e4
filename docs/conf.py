"""Sphinx configuration of refcrypto's documentation site (built by scripts/docs).

Sphinx with autodoc, because refcrypto's docstrings are already reStructuredText (``:class:``
roles, ``::`` literal blocks) and autodoc reads them as they are; MyST so that the chapters and
the notes in docs/*.md stay Markdown that also reads well on a forge; furo for the layout.
Nothing is fetched while building: no intersphinx, no remote images.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

from sphinx.application import Sphinx

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
for path in (str(ROOT), str(DOCS)):
    if path not in sys.path:
        sys.path.insert(0, path)

import docgen  # noqa: E402

import refcrypto  # noqa: E402

# The pages refcrypto computes (worked examples, one page per method), made afresh at every
# build from fixed inputs; docs/generated/ is not in git.
docgen.generate(DOCS / "generated")

project = "refcrypto"
author = "refcrypto developers"
copyright = "refcrypto developers"
release = version = refcrypto.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
# README.md tells people browsing the repository how to build this site; demos/ holds scripts.
exclude_patterns = ["_build", "README.md", "demos", "screenshots", "data"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo" if importlib.util.find_spec("furo") else "alabaster"
html_title = f"refcrypto {release}"
html_static_path: list[str] = []
html_show_sourcelink = True

# The notes in docs/*.md are written by others while this site is built; one may link to a
# note that is not there yet. Such a link becomes plain text (with the file name) until the
# target exists, rather than failing the build; links in the chapters must resolve.
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s#]+\.md)(#[^)\s]*)?\)")
_OWN = ("index", "chapters/", "generated/", "api/")


def _unlink_missing_notes(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname.startswith(_OWN):
        return
    folder = (DOCS / docname).parent

    def replace(match: re.Match[str]) -> str:
        target = match.group(2)
        if "://" in target or (folder / target).exists():
            return match.group(0)
        return f"{match.group(1)} (`{target}`)"

    source[0] = _LINK.sub(replace, source[0])


def setup(app: Sphinx) -> None:
    app.connect("source-read", _unlink_missing_notes)
