"""The ``diffusers`` catalog provider: diffusers folders in the model library folders.

Every folder the model browser searches (the user's library and the folders added with "Add
folder…") is scanned two levels deep for pipeline folders (``model_index.json``) and single model
folders; each becomes a ``diffusers`` network entry whose card is read from the files alone
(configs and safetensors headers: listing never loads weights). A folder that cannot be used
(pickled weights only, a missing part) is listed with the reason.
"""
from __future__ import annotations

import os

from ..catalog import Entry, provider
from ..errors import StudioError
from .cards import find_folders, folder_card
from .folder import FAMILY_TITLES, inspect_folder
from .schedmap import map_scheduler


def entry_for(path: str) -> Entry:
    name = os.path.basename(path.rstrip(os.sep)) or path
    node = {"type": "network", "kind": "diffusers", "params": {"path": path}}
    try:
        info = inspect_folder(path)
        card = folder_card(info)
        card["process_node"] = map_scheduler(info.scheduler, info.path).node()
    except StudioError as exc:
        desc = f"Cannot be used: {exc.problem}"
        return Entry(name, name, node, desc, source="diffusers", tags=("diffusers",),
                     _card={"kind": "diffusers", "name": name, "path": path, "error": exc.problem,
                            "description": desc, "source": "diffusers"})
    res = "x".join(map(str, card["resolution"]))
    desc = f"{FAMILY_TITLES[info.family]}, {res}: diffusers folder {path}"
    card.update(description=desc, source="diffusers")
    return Entry(name, f"{name} ({info.family}, {res})", node, desc, source="diffusers",
                 tags=("diffusers", info.family), _card=card)


@provider("diffusers")
def _diffusers_provider(folders: list[str]) -> list[Entry]:
    seen, out = set(), []
    for root in folders:
        if not os.path.isdir(root):
            continue
        for path in find_folders(root):
            if path not in seen:
                seen.add(path)
                out.append(entry_for(path))
    return out
