"""Neural-network architectures for trained models (torch only).

Architectures register in :data:`studio.core.nn.registry.ARCHITECTURES` like every other plugin:
a dataclass whose fields are its configuration, with ``check(data_shape, num_classes)`` and
``module(data_shape, num_classes)``. The module's ``forward(x, c_noise, labels)`` returns a tensor
shaped like ``x``; :class:`studio.core.nn.denoising.DenoisingModel` wraps it with the input scaling,
the noise conditioning and the optional EDM preconditioning.
"""
