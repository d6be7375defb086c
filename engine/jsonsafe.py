"""JSON-safe copies of results, shared by the export (``optimize.result``) and the server; no
torch import here (the server answers ``hello`` before it loads torch)."""

from __future__ import annotations

import math
from typing import Any


def finite(x: Any) -> Any:
    """A copy of ``x`` for JSON, recursively: NaN/inf (not valid JSON) -> None, tensors and
    arrays -> lists, dict keys -> str."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    if hasattr(x, "tolist") and hasattr(x, "dtype"):  # a torch tensor or a numpy array / scalar
        return finite(x.tolist())
    return x
