"""framestore-view: stores in a window (OpenCV highgui), or the same view exported.

``Scene`` says what is shown at each position and draws it (``render``: pure drawing),
``Player`` keeps the playback state, ``Window`` runs the window and the keys, and
``export`` writes a contact sheet or a clip without a window.
"""

from .export import clip, contact_sheet, export
from .player import Player
from .scene import Scene
from .timeline import Timeline

__all__ = ["Player", "Scene", "Timeline", "clip", "contact_sheet", "export"]
