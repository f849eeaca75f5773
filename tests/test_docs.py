"""The README and docs/ stay true to the repository.

- the README stays a front door (at most 250 lines) and links every page of docs/;
- every relative link (and image) in README.md and docs/*.md points to an existing file, and an anchor to a heading
  of that file;
- every ``configs/*.yaml`` named exists, and every ``evohebb <subcommand>`` named is a subcommand of the CLI;
- every command in a code block that runs a pipeline on a preset loads: its config file with its ``key=value``
  overrides passes the pipeline's config validation (nothing runs);
- papers and systems are named, not the workplace's "seed 00x" (which collides with the RNG ``seed=``).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.M)
CONFIG = re.compile(r"configs/[\w.{},*-]+\.ya?ml")
SUBCOMMAND = re.compile(r"(?:^|[\s(/])evohebb\s+([a-z][\w-]*)")
RUNNER = re.compile(r"python\s+-m\s+runners\.(\w+)")
OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def _prose(text: str) -> str:
    """The page without its fenced code blocks (links and headings live outside them)."""
    return FENCE.sub("", text)


def _code(text: str) -> list[str]:
    """Fenced code blocks and inline code spans."""
    blocks = [m.group(0) for m in FENCE.finditer(text)]
    return blocks + INLINE_CODE.findall(_prose(text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


def _expand_braces(name: str) -> list[str]:
    match = re.search(r"\{([^{}]*)\}", name)
    if match is None:
        return [name]
    return [expanded for part in match.group(1).split(",")
            for expanded in _expand_braces(name[:match.start()] + part + name[match.end():])]


def _commands(text: str) -> list[list[str]]:
    """Shell commands of the fenced code blocks, continuation lines joined, split into tokens (comments dropped)."""
    commands = []
    for block in FENCE.finditer(text):
        lines = block.group(0).splitlines()[1:-1]
        joined = "\n".join(lines).replace("\\\n", " ")
        for line in joined.splitlines():
            try:
                tokens = shlex.split(line, comments=True)
            except ValueError:
                continue
            command: list[str] = []
            for token in tokens:   # `a; b`, `a && b`, `a | b` are separate commands
                if token in (";", "&&", "||", "|"):
                    commands.append(command)
                    command = []
                elif token.endswith(";"):
                    commands.append([*command, token[:-1]])
                    command = []
                else:
                    command.append(token)
            commands.append(command)
    return [command for command in commands if command]


def _pipeline_invocations(tokens: list[str]) -> list[tuple[str, list[str]]]:
    """(subcommand, its arguments) for every ``evohebb <sub>`` / ``runners.evolve`` / ``runners.submit -- ...``."""
    found = []
    for i, token in enumerate(tokens):
        if token == "evohebb" or token.endswith("/evohebb"):
            if i + 1 < len(tokens):
                found.append((tokens[i + 1], tokens[i + 2:]))
        elif token == "runners.evolve" and i > 0 and tokens[i - 1] == "-m":
            found.append(("evolve", tokens[i + 1:]))
        elif token == "runners.submit" and i > 0 and tokens[i - 1] == "-m" and "--" in tokens[i:]:
            found.append(("evolve", tokens[tokens.index("--", i) + 1:]))
    return found


PLACEHOLDER = "PLACEHOLDER"


def _placeholder(token: str) -> str:
    """A token holding a placeholder (``runs/<name>``, ``$r``, ``...``) stands for a value of the reader's."""
    if not any(mark in token for mark in ("$", "<", "...", "…")):
        return token
    key, eq, _ = token.partition("=")
    return f"{key}={PLACEHOLDER}" if eq and OVERRIDE.match(token) else PLACEHOLDER


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """As ``evohebb.cli.main`` parses: ``key=value`` overrides may also follow an option."""
    args, extra = parser.parse_known_args(argv)
    if extra and hasattr(args, "overrides") and not any(a.startswith("-") or "=" not in a for a in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


@pytest.fixture(scope="module")
def parser() -> argparse.ArgumentParser:
    from evohebb.cli import build_parser
    return build_parser()


@pytest.fixture(scope="module")
def subcommands(parser) -> set[str]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {name for action in actions for name in action.choices}


def test_readme_is_a_front_door():
    lines = _text(README).splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"
    linked = {Path(target.split("#")[0]).name for target in LINK.findall(_prose(_text(README)))
              if target.startswith("docs/")}
    unlinked = [p.name for p in PAGES[1:] if p.name not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


def test_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, re.M), ".ci/run no longer runs `make test`"
    assert "make test" in _text(README) and "make run" in _text(README)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_point_to_existing_files_and_headings(page):
    broken = []
    for target in LINK.findall(_prose(_text(page))):
        if re.match(r"^[a-z]+:", target):
            continue   # http(s), mailto
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md":
            anchors = {_slug(h) for h in HEADING.findall(_prose(_text(file)))}
            if anchor not in anchors:
                broken.append(f"{target} (no heading with that anchor)")
    assert not broken, f"{page.name}: broken links: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_named_configs_and_runners_exist(page):
    text = _text(page)
    missing = [name for match in CONFIG.findall(text) for name in _expand_braces(match)
               if "*" not in name and not (ROOT / name).exists()]
    missing += [f"runners/{module}.py" for module in RUNNER.findall(text)
                if not (ROOT / "runners" / f"{module}.py").exists()]
    assert not missing, f"{page.name} names files that do not exist: {sorted(set(missing))}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_named_subcommands_exist(page, subcommands):
    named = {sub for code in _code(_text(page)) for sub in SUBCOMMAND.findall(code)}
    assert named <= subcommands, f"{page.name} names no such subcommand: {sorted(named - subcommands)}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_pipeline_commands_load(page, parser, subcommands):
    """Each documented command parses with the CLI's own parser, and a pipeline's config file with the command's
    ``key=value`` overrides passes validation (nothing runs; placeholders such as ``runs/<name>`` are not checked)."""
    from evohebb.config import load_config
    from evohebb.pipelines.continual_config import ContinualConfig
    from evohebb.pipelines.evolve_config import EvolveConfig
    from evohebb.pipelines.reward_config import RewardConfig
    from evohebb.pipelines.softhebb_config import SoftHebbConfig
    classes = {"evolve": EvolveConfig, "evaluate": EvolveConfig, "softhebb": SoftHebbConfig,
               "reward": RewardConfig, "continual": ContinualConfig, "continual-compare": ContinualConfig}
    failures, checked = [], 0
    for tokens in _commands(_text(page)):
        tokens = [_placeholder(token) for token in tokens]
        for sub, args in _pipeline_invocations(tokens):
            if sub not in subcommands:
                continue   # reported by test_named_subcommands_exist
            command = f"evohebb {sub} {' '.join(args)}"
            try:
                with contextlib.redirect_stderr(io.StringIO()) as err:
                    ns = _parse(parser, [sub, *args])
            except SystemExit:
                failures.append(f"{command}: {err.getvalue().strip().splitlines()[-1]}")
                continue
            checked += 1
            if sub not in classes:
                continue
            config = getattr(ns, "config", None)
            overrides = list(ns.overrides)
            if config is not None and "=" in config and not config.endswith((".yaml", ".yml")):
                config, overrides = None, [config, *overrides]   # as the CLI reads `evohebb evolve a=1`
            if sub == "evaluate" or config == "PLACEHOLDER":
                config = None   # the genome's or the run's own config: the overrides must still be its keys
            overrides = [o for o in overrides
                         if not o.endswith("=" + PLACEHOLDER) and not o.split("=", 1)[1].startswith("runs/")]
            try:
                load_config(classes[sub], ROOT / config if config else None, overrides)
            except Exception as exc:  # noqa: BLE001 - report every failing command at once
                failures.append(f"{command}: {exc}")
    assert not failures, f"{page.name}: commands that do not load:\n" + "\n".join(failures)
    if page.name in {"README.md", "evolve.md", "softhebb.md", "continual.md", "reward.md", "results.md"}:
        assert checked, f"{page.name}: no pipeline command found (has the command syntax changed?)"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_papers_and_systems_are_named(page):
    found = re.findall(r"\bseeds? 00\d\b|\bseed-00\d\b", _text(page), re.I)
    assert not found, f"{page.name} says {found}: name the paper or system instead"
