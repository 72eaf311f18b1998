"""MkDocs hook: the command reference, generated from the typer app at every build.

Each page is what `cygen COMMAND --help` prints (the click command tree of `cygen.cli.app`,
walked here), so the reference cannot drift from the program: a new command gets a page and
a place in the navigation, a removed one loses both. `cli/index.md` is the table of commands
with each one's first line of help.

Hooks: `on_config` adds the pages to the "Command reference" section of the navigation;
`on_files` adds the generated pages to the site. Importing `cygen.cli.app` loads neither jax
nor sympy (tests/test_architecture.py), so this costs a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NAV_SECTION = "Command reference"
WIDTH = 80  # columns of the rendered help (the width of the page's text column)


@dataclass
class Command:
    path: str  # "cygen plot eta"
    help: str  # the full --help text
    summary: str  # the first line of the command's help
    children: list[Command] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return "-".join(self.path.split()[1:])


def _walk(cmd, ctx) -> Command:
    node = Command(ctx.command_path, cmd.get_help(ctx).rstrip(),
                   (cmd.get_short_help_str(limit=WIDTH) or "").strip())
    if hasattr(cmd, "list_commands"):  # a group (typer vendors click: duck typing)
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is None or getattr(sub, "hidden", False):
                continue
            sub_ctx = sub.context_class(sub, info_name=name, parent=ctx,
                                        terminal_width=WIDTH, max_content_width=WIDTH)
            node.children.append(_walk(sub, sub_ctx))
    return node


def command_tree() -> Command:
    """The `cygen` command tree: each command's path, --help text and summary."""
    import typer

    from cygen.cli.app import app

    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="cygen", terminal_width=WIDTH,
                             max_content_width=WIDTH)
    return _walk(root, ctx)


def _help_block(text: str) -> str:
    return "```text\n" + text + "\n```\n"


def command_page(cmd: Command) -> str:
    """The Markdown page of one top-level command (a group: one section per subcommand)."""
    lines = [f"# `{cmd.path}`", "", _help_block(cmd.help)]
    for sub in cmd.children:
        lines += [f"## `{sub.path}`", "", sub.summary, "", _help_block(sub.help)]
    lines += ["", "*Generated from the program's own help by `docs/hooks/cli_pages.py`.*", ""]
    return "\n".join(lines)


def index_page(root: Command) -> str:
    """The table of commands, each linked to its page, above the global options."""
    lines = ["# Command reference", "",
             "Every page of this section is `cygen COMMAND --help`, generated from the program "
             "at build time.", "", "| command | what it does |", "|---|---|"]
    for cmd in root.children:
        summary = cmd.summary.replace("|", "\\|")
        lines.append(f"| [`{cmd.path}`]({cmd.slug}.md) | {summary} |")
    lines += ["", "## `cygen`: the global options", "", _help_block(root.help)]
    return "\n".join(lines)


def pages(root: Command | None = None) -> dict[str, str]:
    """{site path: Markdown} of every generated page."""
    root = root or command_tree()
    out = {"cli/index.md": index_page(root)}
    for cmd in root.children:
        out[f"cli/{cmd.slug}.md"] = command_page(cmd)
    return out


_TREE: list[Command] = []


def _tree() -> Command:
    if not _TREE:
        _TREE.append(command_tree())
    return _TREE[0]


def on_config(config):
    """Fill the "Command reference" section of the navigation with one entry per command."""
    for entry in config["nav"] or []:
        if isinstance(entry, dict) and NAV_SECTION in entry:
            section = entry[NAV_SECTION]
            listed = {next(iter(e.values())) if isinstance(e, dict) else e for e in section}
            for cmd in _tree().children:
                if f"cli/{cmd.slug}.md" not in listed:
                    section.append({f"cygen {cmd.slug}": f"cli/{cmd.slug}.md"})
    return config


def on_files(files, config):
    """Add the generated pages to the site's files."""
    from mkdocs.structure.files import File

    for path, text in pages(_tree()).items():
        files.append(File.generated(config, path, content=text))
    return files
