"""The keys suite: root key and key material rotation on servers of its own (the tests stop and
restart them with other root key files), driven by the official SDKs and the `coffer` CLI."""
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE), str(_HERE.parent / "alibaba"), str(_HERE.parent / "tencent"), str(_HERE.parent / "huawei"),
           str(_HERE.parent / "access")):
    if _p not in sys.path:
        sys.path.insert(0, _p)
