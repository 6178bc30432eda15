"""Diffusion Studio: build, run, inspect and compare diffusion and flow models."""

__version__ = "0.1.0"
