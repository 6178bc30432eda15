"""Entry point of the bundled executable ``DiffusionStudio`` (PyInstaller).

    DiffusionStudio                      the application
    DiffusionStudio PIPELINE.json|.png   the application, with that pipeline open (file managers,
                                         the .desktop file's %f)
    DiffusionStudio --self-test [...]    the smoke test of the installation (`studio self-test`)
    DiffusionStudio --version
    DiffusionStudio COMMAND ...          any `studio` sub-command (run, compare, solvers, ...)
"""
from __future__ import annotations

import os
import sys


def translate(argv: list[str]) -> list[str]:
    """The executable's arguments as `studio` arguments."""
    if not argv:
        return ["gui"]
    first = argv[0]
    if first in ("--self-test", "--selftest"):
        return ["self-test"] + argv[1:]
    if not first.startswith("-") and os.path.isfile(first) \
            and first.lower().endswith((".json", ".png")):
        return ["gui", *argv]
    return argv


def main() -> int:
    argv = sys.argv[1:]
    if argv[:1] == ["--version"]:
        import studio
        print(f"Diffusion Studio {studio.__version__}")
        return 0
    from studio.cli.main import main as studio_main
    return studio_main(translate(argv))


if __name__ == "__main__":
    sys.exit(main())
