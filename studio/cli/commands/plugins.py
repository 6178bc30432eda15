"""`studio plugins [--json]` and `studio plugins check FILE [--json]`: plugins from outside the
package (the user plugin folder and the entry-point group ``diffusion_studio.plugins``)."""
from __future__ import annotations

import json

NAME = "plugins"
HELP = ("list the plugins loaded from the plugin folder and entry points, with their source and "
        "errors; 'check FILE' runs the conformance checks on a plugin file")


def add_arguments(p) -> None:
    p.add_argument("action", nargs="?", choices=["check"], help="check a plugin file")
    p.add_argument("file", nargs="?", help="the plugin file (.py) to check")
    p.add_argument("--json", action="store_true", help="print JSON")


def run(args) -> int:
    from ...core.errors import StudioError
    from ...core.user_plugins import plugin_dir, records

    if args.action == "check":
        if not args.file:
            raise StudioError("give the plugin file to check: studio plugins check FILE", "file")
        from ...core.plugin_check import check_file
        rec, checks = check_file(args.file)
        if args.json:
            print(json.dumps({"plugin": rec.to_json(), "checks": [c.to_json() for c in checks]},
                             indent=2))
        else:
            print(f"{rec.location}: {'imported' if rec.ok else 'FAILED to import'}")
            if not rec.ok:
                print(f"  {rec.error}")
            elif not rec.registered:
                print("  registers nothing")
            for c in checks:
                print(f"  {'PASS' if c.passed else 'FAIL'}  {c.plugin:<20} {c.name:<22} {c.detail}")
        return 0 if rec.ok and rec.registered and all(c.passed for c in checks) else 1
    recs = records()
    if args.json:
        print(json.dumps({"folder": str(plugin_dir()), "plugins": [r.to_json() for r in recs]},
                         indent=2))
        return 0
    print(f"plugin folder: {plugin_dir()}  (entry-point group diffusion_studio.plugins)")
    if not recs:
        print("no plugins loaded")
    for r in recs:
        status = "loaded" if r.ok else "FAILED"
        print(f"  {status:<7} {r.name:<24} {r.source}: {r.location}")
        if r.registered:
            print(f"  {'':<7} registers {', '.join(r.registered)}")
        if r.error:
            print(f"  {'':<7} {r.error}")
    return 0
