"""Prompts as audio: tone-numbered pinyin spoken by espeak-ng's ``cmn-latn-pinyin`` voice,
levelled to 16 kHz WAV files (``wav``), cached.

File names are keyed hashes (HMAC with the server's secret key) of the text, so a name
says nothing about the text and nobody can compute the name of "余额为一千元" to test
whether such a file exists. Two caches:

- ``prompts/``: texts without personal data (menus, instructions), shared by every call
  and kept;
- ``calls/``: texts with personal data (a balance, a read-back ID number), named per call.
  They are deleted when the call ends and, should the hang-up never arrive, swept once
  older than a call can last: a recording of someone's balance must not outlive the call
  that asked for it.

The pinyin goes to espeak-ng on standard input, never on its command line, where other
users of the machine could read it in the process list.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from yibao.config import Settings
from yibao.ivr import wav
from yibao.ivr.pinyin import tone_numbered
from yibao.security.tokens import keyed_hash

log = logging.getLogger("yibao.ivr.audio")

AUDIO_DIR = "ivr-audio"
PROMPTS, CALLS = "prompts", "calls"
NAME = re.compile(r"[0-9a-f]{32}")
VOICE = "cmn-latn-pinyin"  # reads pinyin as Mandarin; Debian's "cmn" reads its own pinyin as English
# Each pinyin syllable is one "word" to espeak-ng: 190 gives about 230 characters a minute with
# the pauses, the pace of a clear Mandarin announcement (200 to 260).
SPEED_WPM = 190
AMPLITUDE = 60  # espeak's default 100 reaches full scale; the level is set afterwards (wav.levelled)
SYNTHESIS_TIMEOUT_SECONDS = 30


def espeak_command(espeak: str, *options: str) -> list[str]:
    """espeak-ng with the line's voice, pace and amplitude, reading pinyin from standard input."""
    return [espeak, "-v", VOICE, "-s", str(SPEED_WPM), "-a", str(AMPLITUDE), *options, "--stdin"]


class AudioUnavailable(RuntimeError):
    """espeak-ng is missing or failed; the line falls back to text prompts."""


class Voice:
    def __init__(self, settings: Settings, key: bytes):
        self.root = Path(settings.data_dir) / AUDIO_DIR
        self.espeak = settings.ivr_espeak
        self.key = key

    def prompt(self, text: str) -> str:
        """The name of the shared recording of a text without personal data."""
        return self._recorded(PROMPTS, keyed_hash(self.key, "ivr-prompt\0" + text), text)

    def personal(self, call_id: str, text: str) -> str:
        """The name of a recording with personal data, valid for this call only."""
        return self._recorded(CALLS, keyed_hash(self.key, f"ivr-call\0{call_id}\0{text}"), text)

    def path_of(self, name: str) -> Path | None:
        if not NAME.fullmatch(name):
            return None
        for folder in (PROMPTS, CALLS):
            path = self.root / folder / f"{name}.wav"
            if path.is_file():
                return path
        return None

    def is_personal(self, name: str) -> bool:
        return NAME.fullmatch(name) is not None and (self.root / CALLS / f"{name}.wav").is_file()

    def forget(self, names: list[str]) -> None:
        for name in names:
            if NAME.fullmatch(name):
                (self.root / CALLS / f"{name}.wav").unlink(missing_ok=True)

    def sweep(self, older_than_seconds: int) -> int:
        """Delete per-call recordings older than ``older_than_seconds``; returns how many."""
        folder, cutoff, removed = self.root / CALLS, time.time() - older_than_seconds, 0
        if not folder.is_dir():
            return 0
        for path in folder.glob("*.wav"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # another worker swept it first
                continue
        return removed

    def _recorded(self, folder: str, name: str, text: str) -> str:
        path = self.root / folder / f"{name}.wav"
        if not path.is_file():
            synthesize(self.espeak, text, path)
        return name


def synthesize(espeak: str, text: str, path: Path) -> None:
    """``text`` spoken into the WAV file ``path`` as the line plays it; raises AudioUnavailable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
    os.close(handle)
    try:
        subprocess.run(
            espeak_command(espeak, "-w", temporary),
            input=tone_numbered(text).encode(), capture_output=True, check=True, timeout=SYNTHESIS_TIMEOUT_SECONDS,
        )
        if os.path.getsize(temporary) == 0:
            raise AudioUnavailable("espeak-ng wrote an empty file")
        wav.for_the_line(Path(temporary))
        os.replace(temporary, path)  # atomic: a concurrent reader sees the whole file or none
    except (OSError, subprocess.SubprocessError, ValueError) as error:  # ValueError: an unreadable WAV file
        log.warning("speech synthesis failed: %s", type(error).__name__)
        raise AudioUnavailable(str(type(error).__name__)) from error
    finally:
        Path(temporary).unlink(missing_ok=True)
