"""Whether a pipeline really runs: built for real (model files loaded, the device there), its labels
checked against the network's classes. Slow (a model file to read), so the inspector asks it in
the background (:class:`~studio.app.jobs.Loader`) and says "Ready to run" only once it answered."""
from __future__ import annotations

from ..core.errors import StudioError


def labels_problem(labels, num_classes: int, title: str = "the network") -> str | None:
    """Why ``labels`` do not fit a network with ``num_classes`` classes (0: unconditional)."""
    if labels is None:
        return None
    values = labels if isinstance(labels, list) else [labels]
    if num_classes <= 0:
        return (f"run.labels: {title} is unconditional: it has no classes to condition on "
                "(clear the labels in the inspector)")
    bad = sorted({v for v in values if not 0 <= int(v) < num_classes})
    if bad:
        return (f"run.labels: class {bad[0]} is out of range: {title} has {num_classes} classes "
                f"(0 to {num_classes - 1})")
    return None


def check(pipeline_dict: dict, base_dir: str | None) -> str | None:
    """None if the pipeline builds and its settings fit it, else what fails (node, field)."""
    from ..core.pipeline import Pipeline
    try:
        built = Pipeline.from_dict(pipeline_dict, base_dir).build()
        built.device()
        built.labels()
        net = built.network
        return labels_problem(built.settings.labels, int(getattr(net, "num_classes", 0) or 0),
                              "the network")
    except StudioError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - a plugin's bug is a reason not to run, said plainly
        return f"{type(exc).__name__}: {exc}"
