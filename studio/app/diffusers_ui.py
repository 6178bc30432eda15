"""Diffusers folders in the app: their card rows in the model browser, and what opening one does
to the pipeline (the matching process node, run settings fit for images).

Hooked in with a few lines: :func:`card_fields` from the browser's card, :func:`on_use` from the
``diffusers`` extension (after the main window has put the network on the canvas).
"""
from __future__ import annotations


def _mb(b) -> str:
    return f"{b / 1e6:.1f} MB" if isinstance(b, (int, float)) else "?"


def card_fields(c: dict) -> list[tuple[str, object]]:
    """Rows of a diffusers folder's card (see :func:`studio.core.hf.cards.folder_card`)."""
    if c.get("error"):
        return [("kind", "diffusers folder"), ("folder", c.get("path")), ("problem", c["error"])]
    res = "x".join(map(str, c.get("resolution", [])))
    if c.get("text_conditioned"):
        cond = "text prompt (network params prompt / negative_prompt)"
    elif c.get("num_classes"):
        names = c.get("class_names") or []
        cond = f"{c['num_classes']} classes" + (f": {', '.join(names[:6])}"
                                                + (" …" if len(names) > 6 else "") if names else "")
    else:
        cond = "unconditional"
    sched = c.get("scheduler") or {}
    proc = c.get("process_params") or {}
    rows = [("name", c.get("name")), ("family", f"{c.get('family')}: {c.get('family_title')}"),
            ("pipeline", c.get("pipeline_class") or "(single model folder)"),
            ("resolution", f"{res} ({'latent' if c.get('latent') else 'pixel'} space)"),
            ("classes", cond),
            ("prediction type", f"{c.get('prediction_type')} (studio: {c.get('parameterization')})"),
            ("process", f"{c.get('process')} " + ", ".join(
                f"{k} {v}" for k, v in proc.items() if k != "trained_betas")),
            ("scheduler", ", ".join(f"{k} {v}" for k, v in sched.items())),
            ("dtype", c.get("dtype")),
            ("size on disk", _mb(c.get("size_bytes")))]
    for name, comp in (c.get("components") or {}).items():
        if comp.get("parameters"):
            rows.append((f"  {name}", f"{comp['class']}: {comp['parameters']:,} parameters"))
    rows.append(("folder", c.get("path")))
    return rows


def on_use(window, entry) -> None:
    """After the browser's entry became the network: put the folder's process in the process
    node, and make the run settings fit for images (small batch, float32, a class label)."""
    node = entry.network_node()
    if node.get("kind") != "diffusers" or node.get("type") != "network":
        return
    card = entry.card()
    if card.get("error"):
        window.log.warning(f"{card.get('path')}: {card['error']}")
        return
    doc = window.doc
    pnode = card["process_node"]
    doc.undo_stack.beginMacro(f"Process of {entry.name}")
    try:
        procs = doc.of_type("process")
        for pid in procs:
            doc.set_kind(pid, pnode["kind"], pnode["params"])
        nets = doc.of_type("network")
        if not procs and len(nets) == 1:  # no process on the canvas: insert one before the network
            x, y = doc.nodes[nets[0]].pos
            pid = doc.add_node("process", pnode["kind"], pnode["params"], (x - 270.0, y))
            doc.link(pid, nets[0])
        if doc.run.batch > 16:
            doc.set_run("batch", 4)
        if doc.run.dtype == "float64":
            doc.set_run("dtype", "float32")
        if card.get("num_classes") and doc.run.labels is None:
            doc.set_run("labels", 0)
    finally:
        doc.undo_stack.endMacro()
    hint = (" Set the prompt in the network's inspector; add a cfg guidance node for "
            "classifier-free guidance." if card.get("text_conditioned") else "")
    window.log.info(f"process is now {pnode['kind']} (from {card['scheduler'].get('class')}); "
                    f"batch {doc.run.batch}, {doc.run.dtype}.{hint}")
