"""Entry point of the ``studio`` command.

With no command it opens the desktop application (``studio gui``). Exit codes: 0 success,
2 bad input (one line says what and where), 1 an internal error (one line and the path of a crash
report; ``--debug`` shows the traceback).
"""
from __future__ import annotations

import argparse
import sys

from .commands import discover
from .safety import add_common_arguments, cli_guard, internal_message, one_line


def _parser() -> tuple[argparse.ArgumentParser, dict]:
    p = argparse.ArgumentParser(prog="studio", description="Diffusion Studio. With no command, "
                                "opens the desktop application.")
    sub = p.add_subparsers(dest="command")
    commands = {}
    for mod in discover():
        sp = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(sp)
        add_common_arguments(sp)
        commands[mod.NAME] = mod
    return p, commands


def main(argv: list[str] | None = None) -> int:
    parser, commands = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["gui"]
    args = parser.parse_args(argv)
    # after parsing: `studio --help` and argument errors never import the engine (nor torch)
    from ..core.errors import Cancelled, StudioError

    debug = bool(getattr(args, "debug", False))
    try:
        with cli_guard(args):
            return int(commands[args.command].run(args) or 0)
    except StudioError as exc:
        print(f"studio: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except Cancelled as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("studio: interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # an internal error: one line and a crash report, no traceback
        if debug:
            raise
        print(f"studio: internal error: {internal_message(exc, args)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
