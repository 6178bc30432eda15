"""Diffusers-format folders (pipelines and single models) for the ``diffusers`` network kind.

``folder`` validates a folder from its files alone (no weights loaded), ``schedmap`` maps its
scheduler onto a studio process, ``families`` loads and calls the networks, ``preview`` holds the
per-family latent -> RGB maps. ``diffusers`` and ``transformers`` are imported only when a folder
is actually loaded (the optional extra ``diffusion-studio[diffusers]``).
"""
