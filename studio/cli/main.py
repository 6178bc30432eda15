"""Entry point of the ``studio`` command.

With no command it opens the desktop application (``studio gui``). Exit codes: 0 success,
2 bad input (one line says what and where), 1 anything else.
"""
from __future__ import annotations

import argparse
import sys

from .commands import discover


def _parser() -> tuple[argparse.ArgumentParser, dict]:
    p = argparse.ArgumentParser(prog="studio", description="Diffusion Studio. With no command, "
                                "opens the desktop application.")
    sub = p.add_subparsers(dest="command")
    commands = {}
    for mod in discover():
        sp = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(sp)
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

    try:
        return int(commands[args.command].run(args) or 0)
    except StudioError as exc:
        print(f"studio: error: {exc}", file=sys.stderr)
        return 2
    except Cancelled as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("studio: interrupted", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
