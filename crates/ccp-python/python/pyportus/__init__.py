"""pyportus: the historical name of this package; everything lives in :mod:`portus`.

``import pyportus as portus`` and ``import portus`` give the same objects.
"""

from portus import *  # noqa: F401,F403
from portus import __all__, __version__, testing, util  # noqa: F401
