"""A real RTSP server on 127.0.0.1 for the live tests: GStreamer's gst-rtsp-server.

Run with Debian's ``/usr/bin/python3``, which has PyGObject (``python3-gi``) and the
GStreamer typelibs (``gir1.2-gst-rtsp-server-1.0``); the project's venv has neither::

    /usr/bin/python3 rtsp_server.py --source-port 5004 [--port 8554] [--mount /live]
    /usr/bin/python3 rtsp_server.py --check   # exit 1, saying what is missing, if anything

It serves ``rtsp://127.0.0.1:PORT/live``: H.264 in RTP, re-payloaded from the RTP the
test broadcaster (``broadcast.py --format rtp``) pushes to ``udp://127.0.0.1:SOURCE_PORT``
in real time, as an IP camera serves its encoder's output. The RTP timestamps of the
source are kept (a jitter buffer in mode ``none`` only re-bases them), so each frame's
time is exact on the broadcaster's frame grid.

The media is shared (every client gets the one live pipeline) and, as by default, not
reusable: once its last client has gone it is thrown away and the next client gets a
fresh pipeline at the live edge, rather than a suspended one that replays what it had
buffered. When the source falls silent (the broadcast is over) the stream is ended, so
its clients get an RTCP BYE and see the end of the stream. Once the server listens it
prints ``ready PORT`` on stdout; it runs until it is killed.
"""

from __future__ import annotations

import argparse
import signal
import sys

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer
except (ImportError, ValueError) as err:  # ValueError: gi has no such typelib
    MISSING: str | None = f"{type(err).__name__}: {err}"
else:
    MISSING = None

#: H.264 as the broadcaster's RTP muxer sends it: payload type 96, a 90 kHz clock.
SOURCE_CAPS = "application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96"


#: The GStreamer elements the server uses: those of the launch line, and those that
#: gst-rtsp-server itself builds each stream from (appsink and appsrc carry RTP
#: interleaved on the RTSP connection).
ELEMENTS = (
    "udpsrc",
    "rtpjitterbuffer",
    "rtph264depay",
    "rtph264pay",
    "rtpbin",
    "appsink",
    "appsrc",
    "udpsink",
    "funnel",
    "tee",
    "queue",
)


def missing() -> str | None:
    """What this machine lacks to run the server, or None."""
    if MISSING is not None:
        return MISSING
    Gst.init(None)
    absent = [name for name in ELEMENTS if Gst.ElementFactory.find(name) is None]
    return f"GStreamer elements not found: {', '.join(absent)}" if absent else None


def launch_line(source_port: int) -> str:
    return (
        f'( udpsrc name=source address=127.0.0.1 port={source_port} caps="{SOURCE_CAPS}" '
        "! rtpjitterbuffer mode=none latency=100 "
        "! rtph264depay ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


class EndWhenSilent:
    """Ends a media's stream (EOS, so its clients get an RTCP BYE) once its source, having
    sent, stays silent for ``ticks`` checks in a row a tenth of a second apart: the
    broadcast is over, and a camera that stops streaming ends its session rather than
    leave its viewers waiting. Counted in checks, not seconds, so that a server frozen
    by the tests (SIGSTOP) does not take its own pause for the end of the broadcast."""

    def __init__(self, media: GstRtspServer.RTSPMedia, ticks: int) -> None:
        self.media = media
        self.ticks = ticks
        self.buffers = 0
        self.seen = 0
        self.silent = 0
        self.done = False
        source = media.get_element().get_by_name("source")
        source.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self._buffer)
        media.connect("unprepared", self._unprepared)
        GLib.timeout_add(100, self._check)

    def _buffer(self, pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        self.buffers += 1
        return Gst.PadProbeReturn.OK

    def _unprepared(self, media: GstRtspServer.RTSPMedia) -> None:
        self.done = True

    def _check(self) -> bool:
        if self.done:
            return False
        buffers = self.buffers
        self.silent = self.silent + 1 if buffers and buffers == self.seen else 0
        self.seen = buffers
        if self.silent < self.ticks:
            return True
        self.done = True
        self.media.get_element().send_event(Gst.Event.new_eos())
        return False


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="only check the requirements")
    parser.add_argument("--source-port", type=int)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--mount", default="/live")
    parser.add_argument("--end-after-silence", type=float, default=1.0, metavar="SECONDS")
    args = parser.parse_args()
    absent = missing()
    if args.check or absent is not None:
        sys.stderr.write(f"rtsp_server.py: {absent}\n" if absent else "")
        return 0 if absent is None else 1
    if args.source_port is None:
        parser.error("--source-port is required")
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args.source_port))
    factory.set_shared(True)
    factory.set_eos_shutdown(False)
    factory.set_suspend_mode(GstRtspServer.RTSPSuspendMode.NONE)
    watchers: list[EndWhenSilent] = []
    factory.connect(
        "media-configure",
        lambda _f, media: watchers.append(EndWhenSilent(media, round(args.end_after_silence * 10))),
    )
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        sys.stderr.write(f"rtsp_server.py: cannot listen on 127.0.0.1:{args.port}\n")
        return 1
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    sys.stdout.write(f"ready {server.get_bound_port()}\n")
    sys.stdout.flush()
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
