"""Live streams watched as they run: samples in, a rolling decision and events out.

Design note: a stored item gets one verdict; a live stream gets a state that changes as
samples arrive (:mod:`.state`) and a stream of events (:mod:`.events`) that the CLI
prints, the library yields and the service turns into webhooks. :mod:`.watch` joins the
media stage's live intake to the scanner and the policy's window rule.
"""

from mediaguard.live.events import EventKind, StreamEvent
from mediaguard.live.state import StreamState
from mediaguard.live.watch import Watch, watch

__all__ = ["EventKind", "StreamEvent", "StreamState", "Watch", "watch"]
