import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The suite's tensors are small: one thread is faster than two and immune to a busy machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
