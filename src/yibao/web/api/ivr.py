"""The 12333 phone line's webhook for the telephony platform, and the recordings it plays.

``POST /api/v1/ivr/events`` takes one call event, signed by the platform (see
``yibao.ivr.signature``), and answers the actions to carry out. ``GET
/api/v1/ivr/audio/{name}.wav`` serves a recording named in a ``play`` action: the names are
keyed hashes that cannot be guessed or derived from a text, and recordings with personal
data exist only while their call lasts.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import FileResponse

from yibao.errors import NotFound
from yibao.ivr import signature
from yibao.ivr.line import PhoneLine
from yibao.ivr.schemas import CallActions, CallEvent
from yibao.web.api.schemas import error_responses
from yibao.web.deps import get_engine, get_security

router = APIRouter(prefix="/api/v1/ivr", tags=["12333 电话语音 / phone line"])

AUDIO_ROUTE = "ivr_audio"


def phone_line(request: Request) -> PhoneLine:
    """One line per application (its call store holds the calls in memory when there is no Redis)."""
    sec, state = get_security(request), request.app.state
    line = getattr(state, "phone_line", None)
    if line is None or line.sec is not sec:
        line = state.phone_line = PhoneLine(get_engine(request), sec)
    return line


async def platform_signature(
    request: Request,
    timestamp: str | None = Header(None, alias=signature.TIMESTAMP_HEADER, description="Unix 秒 / Unix seconds"),
    signed: str | None = Header(
        None, alias=signature.SIGNATURE_HEADER, description="sha256=HMAC-SHA256(YIBAO_IVR_SECRET, 时间戳 + '.' + 请求体)"
    ),
) -> None:
    sec = get_security(request)
    secret = sec.settings.ivr_secret.get_secret_value() if sec.settings.ivr_secret else None
    signature.check(secret, timestamp, signed, await request.body(), sec.now())


@router.post(
    "/events",
    summary="电话平台事件：来电、按键、静默、挂机；返回要执行的动作",
    response_model=CallActions,
    responses=error_responses(401, 422),
    dependencies=[Depends(platform_signature)],
)
def call_event(event: CallEvent, request: Request) -> CallActions:
    """Every event carries the platform's ``call_id``; calls are kept apart by it. The answer
    lists actions in order: ``say`` (text) or ``play`` (a WAV URL, when the call started with
    ``"voice": "audio"`` or the server's ``YIBAO_IVR_VOICE`` is ``audio``), then usually
    ``gather`` (wait for keys; after ``timeout_seconds`` without a key, post ``silence``);
    or ``transfer`` to the agents' queue, or ``hangup``. Post ``hangup`` when the caller hangs
    up: the call's state and recordings are deleted."""
    return phone_line(request).handle(event, audio_url=lambda name: str(request.url_for(AUDIO_ROUTE, name=name)))


@router.get(
    "/audio/{name}.wav",
    name=AUDIO_ROUTE,
    summary="播放用录音（WAV，普通话合成）",
    response_class=FileResponse,
    responses={200: {"content": {"audio/wav": {}}, "description": "WAV 录音 / the recording"}, **error_responses(404, 422)},
)
def ivr_audio(request: Request, name: str = Path(pattern="^[0-9a-f]{32}$", description="动作中给出的录音名 / from a play action")):
    voice = phone_line(request).voice
    path = voice.path_of(name)
    if path is None:
        raise NotFound("未找到该录音，或通话已结束", field="name", code="audio_not_found")
    # A recording with personal data must not stay in any cache between the platform and here.
    caching = "no-store" if voice.is_personal(name) else "public, max-age=86400"
    return FileResponse(path, media_type="audio/wav", headers={"Cache-Control": caching})
