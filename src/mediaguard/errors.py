"""The few exceptions mediaguard raises, shared by every stage.

Design note: each stage raises a small number of typed errors and the edges translate
them: the CLI into exit codes, the library into these classes, and later the HTTP
service into 4xx statuses. Callers catch :class:`MediaguardError` for "anything
mediaguard refused" without catching programming errors.
"""

from __future__ import annotations


class MediaguardError(Exception):
    """Base class of every error mediaguard raises on purpose."""


class MediaError(MediaguardError):
    """The input media cannot be scanned; the message says why."""


class UnsupportedMedia(MediaError):
    """The bytes are not a format mediaguard scans (recognised from content, not name)."""


class MediaTooLarge(MediaError):
    """The media exceeds a configured limit (bytes, pixels or frames)."""


class CorruptMedia(MediaError):
    """The media claims a supported format but cannot be decoded."""


class UnreadableSource(MediaError):
    """The source cannot be read: missing, a directory, not a regular file, or no access."""


class StreamError(MediaError):
    """A live stream cannot be watched: it never started, or it was lost for good.

    Kept apart from :class:`CorruptMedia` because a live source fails in time, not in
    bytes: the same URL may work a minute later, so callers report it as a failed watch
    (``stream.failed``) rather than as a bad file.
    """


class StreamUnavailable(StreamError):
    """The stream never delivered a frame: refused, not found, not a stream, or silent."""


class StreamLost(StreamError):
    """The stream delivered frames, then dropped and every reconnection failed."""


class ConfigError(MediaguardError):
    """A configuration file or option is invalid; the message names the field."""


class PolicyError(ConfigError):
    """A policy file is invalid; the message names the field and what was expected."""


class ProtectedTraitError(ConfigError):
    """A category or label names a protected trait of a person, which mediaguard refuses.

    mediaguard never infers ethnicity, race, religion, gender, age or identity from a face
    or body. Refusing such names at load time keeps a configuration or plug-in from
    turning the pipeline into a tool for profiling people.
    """


class PatternError(ConfigError):
    """A term or URL list entry cannot be used: an empty phrase, a regular expression RE2
    refuses (back-references, look-arounds, or too big for its memory limit), a URL with
    no host, or a domain that is a public suffix; the message names the entry."""
