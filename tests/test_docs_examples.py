"""Every code example of the documentation site, run and compared with what the page shows.

Pages: ``docs/index.md``, ``docs/chapters/*.md`` and the pages ``docs/docgen.py`` generates
(the worked examples and one page per method, made here in a temporary folder, as the site
build makes them), plus any ``pycon`` block of the other notes in ``docs/``. In them:

* a ``pycon`` block is a doctest: every ``>>>`` statement runs, and what it prints must be
  what the page shows (the blocks of one page share one namespace, in order);
* a ``console`` block whose command is ``refcrypto ...`` (optionally after ``VAR=value``
  assignments) runs in this process; its standard output must be the page's text;
* a ``console`` block whose command is ``python docs/demos/NAME.py`` is run and compared by
  ``tests/test_demos.py`` (it starts a server); any other command is an error here, so no
  example can go unexecuted.

No Sphinx needed: the site does not have to be built. ``test_example_counts`` reports how
many examples there are and holds a minimum, so a parser bug cannot silently drop them.
"""

from __future__ import annotations

import doctest
import gc
import re
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from refcrypto import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))
import docgen  # noqa: E402

sys.path.remove(str(DOCS))

#: Demonstrations whose console blocks tests/test_demos.py runs and compares.
DEMOS = {"docs/demos/redirect.py", "docs/demos/nonce_reuse.py", "docs/demos/replay.py"}
#: Pages written by the documentation's authors, all of whose blocks run here.
OWN = ["index.md", *sorted(str(p.relative_to(DOCS)) for p in (DOCS / "chapters").glob("*.md"))]
GENERATED = [f"generated/{relative}" for relative, _ in docgen.pages()]
#: Pages of prose and links only.
WITHOUT_EXAMPLES = {"chapters/findings.md", "generated/wire/index.md", "generated/methods/index.md"}
BLOCK = re.compile(r"^```(pycon|console)\n(.*?)^```$", re.S | re.M)


@dataclass(frozen=True)
class Block:
    kind: str
    line: int
    body: str


def blocks(text: str) -> Iterator[Block]:
    for match in BLOCK.finditer(text):
        yield Block(match.group(1), text.count("\n", 0, match.start()) + 2, match.group(2))


def notes() -> list[str]:
    """Other Markdown files of docs/ (their pycon blocks run too)."""
    mine = {DOCS / name for name in OWN} | {DOCS / "README.md"}
    return sorted(str(p.relative_to(DOCS)) for p in DOCS.glob("*.md") if p not in mine)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    docgen.generate(out)
    return out


def page_text(page: str, generated: Path) -> str:
    if page.startswith("generated/"):
        return (generated / page.removeprefix("generated/")).read_text(encoding="utf-8")
    return (DOCS / page).read_text(encoding="utf-8")


def run_pycon(block: Block, page: str, namespace: dict[str, object]) -> int:
    test = doctest.DocTestParser().get_doctest(block.body, {}, page, page, block.line - 1)
    test.globs = namespace
    output: list[str] = []
    runner = doctest.DocTestRunner(optionflags=0)
    runner.run(test, out=output.append, clear_globs=False)
    assert runner.failures == 0, "".join(output)
    return len(test.examples)


def run_console(block: Block, page: str, monkeypatch: pytest.MonkeyPatch,
                capsys: pytest.CaptureFixture[str]) -> bool:
    """Run a ``$ refcrypto ...`` session; False for a demo that test_demos.py runs."""
    command, _, expected = block.body.partition("\n")
    assert command.startswith("$ "), f"{page}:{block.line}: a console block starts with '$ '"
    words = shlex.split(command[2:])
    env = {}
    while words and "=" in words[0] and not words[0].startswith("-"):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if words[:1] == ["python"] and words[1] in DEMOS:
        return False
    assert words[:1] == ["refcrypto"], f"{page}:{block.line}: no test runs {command!r}"
    monkeypatch.delenv("REFCRYPTO_KEY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    cli.main(words[1:])
    out = capsys.readouterr().out
    assert out.rstrip("\n") == expected.rstrip("\n"), f"{page}:{block.line}: {command}"
    return True


@pytest.mark.parametrize("page", [*OWN, *GENERATED, *notes()])
def test_page_examples(page: str, generated: Path, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    text = page_text(page, generated)
    monkeypatch.chdir(ROOT)  # pages refer to docs/demos relative to the repository
    monkeypatch.setattr(sys, "path", list(sys.path))  # a page may add docs/ to it
    namespace: dict[str, object] = {"__name__": "__docs__"}
    collector_was_on = gc.isenabled()
    ran = 0
    try:
        for block in blocks(text):
            if block.kind == "pycon":
                ran += run_pycon(block, page, namespace)
            elif page in OWN or page.startswith("generated/"):
                ran += run_console(block, page, monkeypatch, capsys)
    finally:
        if collector_was_on:
            gc.enable()
        for name in [n for n in sys.modules if n == "demos" or n.startswith("demos.")]:
            del sys.modules[name]
    if page in OWN or page.startswith("generated/"):
        assert ran or page in WITHOUT_EXAMPLES, f"{page}: no example ran"


def test_example_counts(generated: Path, request: pytest.FixtureRequest) -> None:
    """How many examples the site has (the parametrised test above runs exactly these)."""
    statements = sessions = demos = pages = 0
    parser = doctest.DocTestParser()
    for page in [*OWN, *GENERATED, *notes()]:
        pages += 1
        for block in blocks(page_text(page, generated)):
            if block.kind == "pycon":
                statements += len(parser.get_examples(block.body))
            elif "$ python docs/demos/" in block.body.split("\n", 1)[0]:
                demos += 1
            elif page in OWN or page.startswith("generated/"):
                sessions += 1
    line = (f"docs examples: {statements} pycon statements and {sessions} refcrypto sessions "
            f"run over {pages} pages; {demos} demo runs left to tests/test_demos.py")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\n{line}")
    print(line)
    # 68 method pages (one worked vector each, a wire vector for the 65 classic ones, one
    # dissected wire each), four worked examples, the chapters.
    assert len(GENERATED) == 1 + 4 + 1 + 68
    assert statements >= 68 * 5 + 100
    assert sessions >= 68 + 10
    assert demos == len(DEMOS)
