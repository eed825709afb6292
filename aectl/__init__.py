"""aectl: a command-line experiment runner for autoencoders, driven by Hydra configs.

NumPy's and SciPy's OpenBLAS keep a thread pool of their own beside torch's, and on 2
cores the two spin against each other: the probe's fit (SciPy's L-BFGS-B around torch
products) took 0.4 s instead of 0.07. aectl's heavy work is torch's, so OpenBLAS gets one
thread unless the user set it. OpenBLAS reads it when NumPy loads, hence here, before any
of aectl's modules can import NumPy.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
