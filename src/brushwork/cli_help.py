"""``--help`` pages that read like a well-made command line's.

typer's own rich help gives every option a type column (``<bool>``, ``<list[Path]>``), shows both
spellings of a switch side by side (``--original-size --no-original-size``), wraps defaults as
``[default: (512)]`` and cuts long ones.  At 100 columns that leaves under 40 for the text.  This
module draws the same information differently:

* one flag column of at most a third of the width: ``-o, --output PATH``, ``--quality
  [draft|normal|high|single]``, ``--original-size`` (a switch has no value to show; one that is on by default reads
  ``--[no-]cache``);
* the help text beside it, then ``Default: 512.`` in plain words, wrapped, never cut; long choice
  lists move into the text;
* panels in a fixed order: Arguments, Options, then each job's Essentials before its Advanced.

It reads only what the command's parameters declare (the settings fields behind them included), so
it never needs updating when a setting is added.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Column, Table
from rich.text import Text

#: The widest the page is drawn, however wide the terminal: long lines are hard to read.
MAX_WIDTH = 120


def _annotation(param: Any) -> Any:
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    if typing.get_origin(annotation) is list:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _choices(param: Any) -> list[str]:
    annotation = _annotation(param)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(m.value) for m in annotation]
    return []


def _is_switch(param: Any) -> bool:
    return bool(getattr(param, "is_flag", False)) or _annotation(param) is bool


def _metavar(param: Any) -> str:
    if getattr(param, "metavar", None):
        return str(param.metavar)
    annotation = _annotation(param)
    if annotation is int:
        return "INT"
    if annotation is float:
        return "NUMBER"
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "PATH"
    return "TEXT"


def plain(text: str) -> str:
    """Help text as people read it: `code` loses its backquotes."""
    return re.sub(r"`([^`]+)`", r"\1", text or "").strip()


def _default_text(param: Any) -> str | None:
    """``512``, ``relu1_1, relu2_1, …``, ``on``; None when there is nothing worth saying."""
    shown = getattr(param, "show_default", None)
    default = getattr(param, "default", None)
    if shown is False or getattr(param, "required", False):
        return None
    if _is_switch(param):
        return "on" if default is True and getattr(param, "secondary_opts", None) else None
    if isinstance(shown, str) and (shown != "none" or default is not None):
        return shown.replace(",", ", ")  # the settings field's default, as the CLI generator wrote it
    if default is None or default == [] or default == ():
        return None  # an optional value: the help text says what happens without it
    return str(default.value if isinstance(default, enum.Enum) else default)


def _flag_cell(param: Any, room: int) -> tuple[str, str | None]:
    """The flag column's text, and a choice list that did not fit there (for the help text)."""
    opts = sorted(param.opts, key=lambda o: (o.startswith("--"), o))  # -o before --output
    if _is_switch(param):
        second = list(getattr(param, "secondary_opts", None) or [])
        longs = [o for o in opts if o.startswith("--")]
        if second and longs and second[0] == "--no-" + longs[0][2:] and getattr(param, "default", None) is True:
            opts = [o for o in opts if not o.startswith("--")] + ["--[no-]" + longs[0][2:]]  # on unless turned off
        return ", ".join(opts), None
    name = ", ".join(opts)
    choices = _choices(param)
    value = "[" + "|".join(choices) + "]" if choices else _metavar(param)
    if getattr(param, "multiple", False):
        value += " …"
    cell = f"{name} {value}"
    if choices and len(cell) > room:
        return f"{name} CHOICE", ", ".join(choices)
    return cell, None


def _help_cell(param: Any, extra_choices: str | None) -> Text:
    text = Text(plain(getattr(param, "help", "") or ""))
    said = set(re.findall(r"[\w-]+", text.plain))
    if extra_choices and not set(extra_choices.split(", ")) <= said:  # unless the help already names them all
        text.append(f" Choices: {extra_choices}.")
    default = _default_text(param)
    if getattr(param, "required", False):
        text.append(" Required.", style="bold")
    elif default is not None:
        text.append(f" Default: {default}.", style="cyan")
    return text


def _argument_name(param: Any) -> str:
    name = str(getattr(param, "metavar", None) or param.name).upper()
    return name + ("…" if getattr(param, "nargs", 1) == -1 else "")


def _panel_order(name: str) -> tuple[int, str]:
    if name == "Arguments":
        return 0, ""
    if name == "Options":
        return 1, ""
    if name.endswith("Essentials"):
        return 2, name
    if name.endswith("Advanced"):
        return 3, name
    if name == "Cluster":  # running elsewhere comes after everything about the picture
        return 5, name
    return 4, name


def _room(console: Console) -> int:
    """The widest the flag column may be: about a third of the page (32 at 100 columns)."""
    return max(24, min(36, int(console.width * 0.32)))


def _console() -> Console:
    console = Console(highlight=False)
    console.width = min(console.width, MAX_WIDTH)
    return console


def _table(rows: list[tuple[str, Text]], flag_width: int) -> Table:
    table = Table.grid(Column(width=flag_width, overflow="fold", style="bold"), Column(ratio=1, overflow="fold"),
                       padding=(0, 2), expand=True)
    for flag, text in rows:
        table.add_row(Text(flag), text)
    return table


def _panel(title: str, body: Any) -> Panel:
    return Panel(body, title=title, title_align="left", box=box.ROUNDED, border_style="dim", padding=(0, 1))


def _render(console: Console, usage: str, description: str, panels: dict[str, list[tuple[str, Text]]]) -> None:
    room = _room(console)
    widest = max((len(flag) for rows in panels.values() for flag, _ in rows), default=0)
    flag_width = min(room, max(widest, 8))
    console.print(Padding(Text("Usage: ", style="bold") + Text(usage), (1, 1, 0, 1)))
    if description:
        paragraphs = [p.replace("\n", " ") for p in plain(description).split("\n\n")]
        console.print(Padding(Group(*(Text(p + "\n") for p in paragraphs)), (1, 1, 0, 1)))
    for title in sorted(panels, key=_panel_order):
        if panels[title]:
            console.print(_panel(title, _table(panels[title], flag_width)))


def render_command_help(command: Any, ctx: Any) -> None:
    """Print a command's help page."""
    console = _console()
    room = _room(console)
    panels: dict[str, list[tuple[str, Text]]] = {"Arguments": [], "Options": []}
    usage = [ctx.command_path, "[OPTIONS]"]
    help_option = None
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        if getattr(param, "param_type_name", "") == "argument":
            name = _argument_name(param)
            usage.append(name if param.required else f"[{name}]")
            panels["Arguments"].append((name, _help_cell(param, None)))
            continue
        cell, extra = _flag_cell(param, room)
        row = (cell, _help_cell(param, extra))
        if "--help" in param.opts:
            help_option = row
            continue
        panels.setdefault(getattr(param, "rich_help_panel", None) or "Options", []).append(row)
    if help_option:
        panels["Options"].append(help_option)
    _render(console, " ".join(usage), command.help or "", panels)


def render_group_help(group: Any, ctx: Any) -> None:
    """Print the program's help page: its global flags and its commands."""
    console = _console()
    room = _room(console)
    options = []
    for param in group.get_params(ctx):
        if not getattr(param, "hidden", False):
            cell, extra = _flag_cell(param, room)
            options.append((cell, _help_cell(param, extra)))
    commands = []
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is not None and not cmd.hidden:
            first = (cmd.help or "").strip().split("\n\n")[0].replace("\n", " ")
            commands.append((name, Text(plain(first))))
    note = ("Global flags work before or after the command. "
            f"Run `{ctx.command_path} COMMAND --help` for a command's options.")
    _render(console, f"{ctx.command_path} [OPTIONS] COMMAND [ARGS]…", (group.help or "") + "\n\n" + note,
            {"Commands": commands, "Options": options})
