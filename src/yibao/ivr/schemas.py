"""The webhook format between a telephony platform and the phone line, independent of any provider.

The platform posts one event per thing that happens on a call (the call started, the caller
keyed digits, the caller stayed silent until the gather timed out, the caller hung up) and
carries out the actions it gets back, in order: speak a text or play an audio file, gather
digits (at most ``max_digits``, until ``finish_on_key``, for ``timeout_seconds``), transfer the
call to the agents' queue, hang up.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field


class EventType(StrEnum):
    STARTED = "call.started"
    DIGITS = "digits"
    SILENCE = "silence"
    HANGUP = "hangup"


class Voice(StrEnum):
    TEXT = "text"
    AUDIO = "audio"


class CallEvent(BaseModel):
    type: EventType = Field(description="call.started | digits | silence | hangup")
    call_id: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$", description="平台的通话标识 / the platform's call id"
    )
    caller: str | None = Field(
        None, max_length=20, pattern=r"^\+?[0-9]{0,19}$", description="主叫号码（call.started）/ caller number"
    )
    digits: str | None = Field(
        None, max_length=32, pattern=r"^[0-9*#]*$", description="按键（digits），不含结束键也可 / keys pressed"
    )
    voice: Voice | None = Field(
        None, description="call.started：text 由平台朗读文字，audio 播放本服务合成的录音；默认按服务设置 / prompts as text or audio"
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"type": "call.started", "call_id": "c-20250615-0001", "caller": "13800001234", "voice": "text"},
                {"type": "digits", "call_id": "c-20250615-0001", "digits": "11010519491231002*"},
                {"type": "silence", "call_id": "c-20250615-0001"},
                {"type": "hangup", "call_id": "c-20250615-0001"},
            ]
        }
    }


class SayAction(BaseModel):
    type: Literal["say"] = "say"
    text: str = Field(description="用普通话朗读的文字 / text to speak in Mandarin")


class PlayAction(BaseModel):
    type: Literal["play"] = "play"
    url: str = Field(description="WAV 录音地址 / WAV file to play")
    text: str = Field(description="录音的文字内容（字幕、日志）/ what the recording says")


class GatherAction(BaseModel):
    type: Literal["gather"] = "gather"
    max_digits: int = Field(ge=1, le=32)
    timeout_seconds: int = Field(ge=1, description="无按键多少秒后发送 silence 事件 / silence after this long")
    finish_on_key: str | None = Field(None, description="结束输入的按键 / key that ends the entry")


class TransferAction(BaseModel):
    type: Literal["transfer"] = "transfer"
    queue: str = Field(description="转接的队列 / queue to transfer to")
    verified: bool = Field(description="来电人是否已通过身份验证 / whether the caller passed the identity check")


class HangupAction(BaseModel):
    type: Literal["hangup"] = "hangup"


Action = Annotated[SayAction | PlayAction | GatherAction | TransferAction | HangupAction, Field(discriminator="type")]


class CallActions(BaseModel):
    call_id: str
    actions: list[Action]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "call_id": "c-20250615-0001",
                    "actions": [
                        {"type": "say", "text": "您的医保个人账户余额为一千二百三十四元五角六分。"},
                        {"type": "say", "text": "重听请按9，返回主菜单请按星号键，转人工服务请按0。"},
                        {"type": "gather", "max_digits": 1, "timeout_seconds": 10, "finish_on_key": None},
                    ],
                }
            ]
        }
    }
