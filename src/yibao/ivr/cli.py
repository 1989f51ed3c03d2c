"""``yibao ivr``: the 12333 phone line in a terminal.

Prompts print (and with ``--play`` are played through ``aplay`` or sox's ``play``); each line
typed is the keys of one entry: an empty line is silence, ``h`` hangs up, end of input hangs
up too. Keys may be piped in (``printf '…\\n1\\n' | yibao ivr``), which is how the tests and
the docs drive it. Every event goes through :meth:`PhoneLine.handle`, the code the webhook
runs, against the database of ``YIBAO_DATABASE_URL`` (the demo's file by default).
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import sys

from pathlib import Path

import typer

from yibao.ivr import speech
from yibao.ivr.audio import AudioUnavailable, synthesize
from yibao.ivr.line import PhoneLine
from yibao.ivr.schemas import CallEvent, EventType, Voice
from yibao.terminal import err, migrated_engine, out

HANG_UP = "h"
_KEYS = re.compile(r"[0-9*#]{1,32}")
PLAYERS = (("aplay", "-q"), ("play", "-q"))


def ivr_command(
    caller: str = typer.Option("13800000000", "--caller", help="模拟的主叫号码（记录时脱敏）/ caller number to simulate"),
    play: bool = typer.Option(False, "--play", help="用 aplay 或 play 播放合成语音 / play the synthesized prompts"),
    balance_sample: Path | None = typer.Option(
        None, "--balance-sample", dir_okay=False,
        help="把示例余额提示录成 WAV 文件后退出 / write the balance prompt of a sample amount to this WAV file and exit",
    ),
) -> None:
    """12333 电话语音模拟：显示提示，输入按键（空行为静默，h 挂机）。 Phone-line simulator: type keys (empty line: silence, h: hang up)."""
    from yibao.security.context import Security

    if balance_sample is not None:
        _record_sample(balance_sample)
        return
    engine = migrated_engine(other_fix="yibao demo")
    line = PhoneLine(engine, Security())
    player = _player() if play else None
    if play and player is None:
        err.print("没有找到 aplay 或 play，只显示文字 / no audio player found, text only")
    call_id = "sim-" + secrets.token_hex(8)
    event = CallEvent(type=EventType.STARTED, call_id=call_id, caller=caller, voice=Voice.AUDIO if player else Voice.TEXT)
    while True:
        answer = line.handle(event)
        if event.type is EventType.HANGUP:
            return
        event = _carry_out(line, call_id, answer.actions, player)


def _carry_out(line: PhoneLine, call_id: str, actions, player: tuple[str, str] | None) -> CallEvent:
    """Show (and play) the actions, then the caller's next event, as a platform would post it."""
    for action in actions:
        if action.type in ("say", "play"):
            out.print(f"【语音】{action.text}", markup=False, highlight=False, soft_wrap=True)
            if action.type == "play" and player:
                _play(line, action.url, player)
        elif action.type in ("transfer", "hangup"):
            out.print("【转接人工服务】" if action.type == "transfer" else "【挂机】", markup=False)
            # The call has left the line: the platform posts the hang-up that ends it here.
            return CallEvent(type=EventType.HANGUP, call_id=call_id)
    return _keys(call_id)


def _keys(call_id: str) -> CallEvent:
    while True:
        typed = sys.stdin.readline()
        if not typed:  # end of input: the caller put the phone down
            out.print("【来电人挂机】", markup=False)
            return CallEvent(type=EventType.HANGUP, call_id=call_id)
        keys = typed.strip()
        if not sys.stdin.isatty():
            out.print(f"> {keys}", markup=False, highlight=False, soft_wrap=True)
        if keys.lower() == HANG_UP:
            return CallEvent(type=EventType.HANGUP, call_id=call_id)
        if not keys:
            return CallEvent(type=EventType.SILENCE, call_id=call_id)
        if _KEYS.fullmatch(keys):
            return CallEvent(type=EventType.DIGITS, call_id=call_id, digits=keys)
        err.print("电话键盘只有 0-9、* 和 #；空行为静默，h 挂机 / keys 0-9 * # only")


def _record_sample(path: Path) -> None:
    """The balance prompt exactly as a caller hears it, for anyone to listen to without a call."""
    from yibao.config import get_settings

    text = speech.balance(speech.SAMPLE_BALANCE_FEN)
    try:
        synthesize(get_settings().ivr_espeak, text, path)
        path.chmod(0o644)  # a file to share, unlike the line's private cache
    except AudioUnavailable:
        err.print("语音合成失败，请确认已安装 espeak-ng / speech synthesis failed: is espeak-ng installed?")
        raise typer.Exit(1) from None
    out.print(f"【已录制】{text} → {path}", markup=False, highlight=False, soft_wrap=True)


def _player() -> tuple[str, str] | None:
    for program, quiet in PLAYERS:
        path = shutil.which(program)
        if path:
            return path, quiet
    return None


def _play(line: PhoneLine, url: str, player: tuple[str, str]) -> None:
    path = line.voice.path_of(url.rsplit("/", 1)[-1].removesuffix(".wav"))
    if path is not None:
        subprocess.run([player[0], player[1], str(path)], check=False, capture_output=True)
