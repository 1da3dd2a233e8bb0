"""Push real photographs as a live stream, in real time: the tests' broadcaster.

Run as a separate process (``python broadcast.py ...``) so that encoding in real time never
competes with the reader for the test process's GIL. Each ``NAME:SECONDS`` of the schedule
shows one of the shared test photos (scikit-image and matplotlib files) for that long,
with a little motion so the encoder sends real inter frames. Formats:

* ``hls``: an HLS playlist and one-second segments in ``--out`` (an HTTP server serves it);
* ``mpegts``: one growing MPEG-TS file ``--out/live.ts``, flushed packet by packet;
* ``flv`` and ``fmp4``: one growing FLV (``live.flv``) or fragmented MP4 (``live.mp4``,
  a fragment per keyframe) file, as HTTP-FLV and low-latency MP4 origins serve them;
* ``rtmp``: publish FLV to ``--url`` (a listener must be waiting there);
* ``rtp``: send H.264 in RTP to ``--url`` (``rtp://127.0.0.1:PORT``), as a camera's encoder
  feeds its RTSP server (``rtsp_server.py``); nothing needs to listen, UDP is just sent.

``--loop N`` repeats the schedule N times; the playlist gets its end tag when it is done.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from fractions import Fraction
from importlib.resources import files
from pathlib import Path

import av
import numpy as np
from PIL import Image

#: The progressive formats: the growing file each writes in ``--out``, its muxer and options.
PROGRESSIVE = {
    "mpegts": ("live.ts", "mpegts", {"flush_packets": "1"}),
    "flv": ("live.flv", "flv", {"flush_packets": "1"}),
    "fmp4": (
        "live.mp4",
        "mp4",
        {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"},
    ),
}

PHOTOS = {
    "astronaut": ("skimage.data", "astronaut.png"),
    "camera": ("skimage.data", "camera.png"),
    "coffee": ("skimage.data", "coffee.png"),
    "chelsea": ("skimage.data", "chelsea.png"),
    "rocket": ("skimage.data", "rocket.jpg"),
}


def picture(name: str, width: int, height: int) -> np.ndarray:
    package, path = PHOTOS[name]
    data = files(package).joinpath(path).read_bytes()
    with Image.open(io.BytesIO(data)) as img:
        small = img.convert("RGB").resize((width + 8, height + 8), Image.Resampling.LANCZOS)
        return np.asarray(small, dtype=np.uint8)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--format", choices=("hls", *PROGRESSIVE, "rtmp", "rtp"), required=True)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--url")
    parser.add_argument("--schedule", required=True)
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--size", default="160x120")
    parser.add_argument("--loop", type=int, default=1)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    plan = [(n, float(s)) for n, s in (item.split(":") for item in args.schedule.split(","))]
    pictures = {name: picture(name, width, height) for name, _ in plan}
    if args.format == "hls":
        target: str = str(args.out / "index.m3u8")
        out = av.open(target, "w", format="hls", options={"hls_time": "1", "hls_list_size": "0"})
    elif args.format in PROGRESSIVE:
        name, muxer, options = PROGRESSIVE[args.format]
        out = av.open(str(args.out / name), "w", format=muxer, options=options)
    elif args.format == "rtp":
        out = av.open(args.url, "w", format="rtp")
    else:  # the listener may not be up yet: retry for a few seconds
        deadline = time.monotonic() + 10
        while True:
            try:
                out = av.open(args.url, "w", format="flv")
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    stream = out.add_stream("libx264", rate=args.fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(args.fps)}
    started = time.monotonic()
    index = 0
    for _ in range(args.loop):
        for name, seconds in plan:
            for _step in range(round(seconds * args.fps)):
                shift = abs(index % 14 - 7)  # a slow pan to and fro, no jumps
                pixels = pictures[name][shift : shift + height, shift : shift + width]
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
                frame.pts, frame.time_base = index, Fraction(1, args.fps)
                for packet in stream.encode(frame):
                    out.mux(packet)
                index += 1
                # Marks when each photo first goes out, for latency measurements.
                if _step == 0:
                    sys.stdout.write(f"show {name} {time.time():.3f}\n")
                    sys.stdout.flush()
                delay = started + index / args.fps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    if args.format in PROGRESSIVE:  # the origin ends the download, then answers 404
        (args.out / "live.done").touch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
