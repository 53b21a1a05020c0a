"""Array type aliases shared by the allocation models and their numba kernels.

A module of their own so that :mod:`spatial.allocation._kernels` and
:mod:`spatial.allocation._common` can both use them without importing each other.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
