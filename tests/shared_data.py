"""Where the real data of ``../shared/data`` is (search exports, SYNERGY reviews, a RevMan file; a
README in each folder): beside the checkout, or where ``SHARED_DATA`` says."""
import os
from pathlib import Path

_BESIDE_CHECKOUT = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED_DATA = Path(os.environ.get("SHARED_DATA") or (
    _BESIDE_CHECKOUT if _BESIDE_CHECKOUT.is_dir() else Path("/work/shared/data")))
