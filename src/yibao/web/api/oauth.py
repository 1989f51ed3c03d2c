"""OAuth 2.0 endpoints for third-party apps: consent page, token, revocation, server metadata.

They follow RFC 6749/7636/7009/8414 (form posts, OAuth error bodies) rather than this
API's JSON conventions, so they are described by the metadata document, not by the
OpenAPI document.

The consent page asks the person to sign in (ID number, card number, password) on the
page itself, or accepts the person's own bearer session (an app inside the official
client). A person whose password must be changed first cannot grant anything.
"""

from __future__ import annotations

from importlib.resources import files
from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from yibao.errors import YibaoError
from yibao.security import signin
from yibao.security.errors import AccessError, BadCredentials, PasswordChangeRequired
from yibao.security.oauth import FormRequest, OAuthAnswer, PersonUser, YibaoAuthorizationServer
from yibao.security.principal import PERSON_SCOPES, Kind, Scope
from yibao.web.deps import client_address, get_engine, get_security, session_principal
from yibao.web.page_tools import secure_page

router = APIRouter(tags=["第三方授权 / OAuth"], include_in_schema=False)
templates = Jinja2Templates(directory=str(files("yibao.web") / "templates"))

AUTHORIZE_FIELDS = ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # the JSON and redirect answers


def authorization_server(request: Request) -> YibaoAuthorizationServer:
    """One server per application and security context (tests swap the context)."""
    state = request.app.state
    sec = get_security(request)
    server = getattr(state, "oauth_server", None)
    if server is None or server.security is not sec or server.engine is not get_engine(request):
        server = state.oauth_server = YibaoAuthorizationServer(get_engine(request), sec)
    return server


async def _form_request(request: Request) -> FormRequest:
    form = await request.form() if request.method == "POST" else {}
    pairs = [(key, value) for key, value in form.multi_items() if isinstance(value, str)] if form else []
    return FormRequest(request.method, str(request.url), dict(request.headers), list(request.query_params.multi_items()), pairs)


def _respond(answer: OAuthAnswer) -> Response:
    if answer.location:
        return RedirectResponse(answer.location, status_code=302, headers=NO_STORE)
    body = answer.body if isinstance(answer.body, dict) else {}
    headers = {key: value for key, value in answer.headers if key.lower() != "content-type"}
    return JSONResponse(body, status_code=answer.status, headers=headers | NO_STORE)


def _page(request: Request, status: int, *, redirect_uri: str | None = None, **context) -> HTMLResponse:
    """The consent page with the pages' security headers. Its form's answer redirects to the
    app's (checked) redirect URI, which the policy's form-action must therefore allow."""
    response = templates.TemplateResponse(request, "consent.html", context, status_code=status)
    return secure_page(response, form_targets=(_origin(redirect_uri),) if redirect_uri else ())


def _origin(uri: str) -> str:
    """A CSP source for the URI: its origin, or its scheme for an app's own scheme (``myapp:/cb``)."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"


@router.get("/oauth/authorize", response_class=HTMLResponse)
async def consent_page(request: Request) -> Response:
    server = authorization_server(request)
    oauth_request = await _form_request(request)
    try:
        grant = await run_in_threadpool(server.get_consent_grant, oauth_request)
    except OAuth2Error as error:
        return _refusal(request, server, oauth_request, error)
    return _consent(request, grant, oauth_request)


def _consent(request: Request, grant, oauth_request: FormRequest, *, status: int = 200, error: str | None = None) -> HTMLResponse:
    scopes = [Scope(scope) for scope in grant.request.scope.split()]
    hidden = {name: oauth_request.payload.data[name] for name in AUTHORIZE_FIELDS if name in oauth_request.payload.data}
    return _page(request, status, redirect_uri=grant.redirect_uri, app_name=grant.client.name, scopes=scopes, hidden=hidden,
                 error=error)


def _refusal(request: Request, server, oauth_request: FormRequest, error: OAuth2Error) -> Response:
    """An invalid request: back to the app when its redirect URI is trusted, else an error page."""
    if getattr(error, "redirect_uri", None):
        return _respond(server.handle_error_response(oauth_request, error))
    return _page(request, 400, invalid=True, error="授权请求无效（应用或回调地址不正确），请返回应用重试。")


@router.post("/oauth/authorize", response_class=HTMLResponse)
async def consent_decision(request: Request) -> Response:
    server = authorization_server(request)
    oauth_request = await _form_request(request)
    try:
        grant = await run_in_threadpool(server.get_consent_grant, oauth_request)
    except OAuth2Error as error:
        return _refusal(request, server, oauth_request, error)
    if oauth_request.form.get("decision") != "approve":
        answer = await run_in_threadpool(server.create_authorization_response, oauth_request, None, grant)
        return _respond(answer)
    try:
        person_id = await run_in_threadpool(_consenting_person, request, oauth_request.form)
    except YibaoError as error:
        status = error.status_code if isinstance(error, AccessError) else 422
        return _consent(request, grant, oauth_request, status=status, error=error.message)
    answer = await run_in_threadpool(server.create_authorization_response, oauth_request, PersonUser(person_id), grant)
    return _respond(answer)


def _consenting_person(request: Request, form: dict) -> int:
    sec = get_security(request)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        with get_engine(request).connect() as conn:
            principal = session_principal(conn, header[7:].strip(), sec)
        if principal is None or principal.kind is not Kind.PERSON:
            raise BadCredentials("登录已过期，请重新登录")
        if principal.limited:
            raise PasswordChangeRequired()
        return principal.person_id
    person_id, limited = signin.check_password(
        get_engine(request), sec, id_number=form.get("id_number", ""), card_number=form.get("card_number", ""),
        password=form.get("password", ""), client=client_address(request),
    )
    if limited:
        raise PasswordChangeRequired("您的密码是初始密码或过于简单，请先登录医保服务平台修改密码后再授权")
    return person_id


@router.post("/oauth/token")
async def token(request: Request) -> Response:
    server = authorization_server(request)
    oauth_request = await _form_request(request)
    return _respond(await run_in_threadpool(server.create_token_response, oauth_request))


@router.post("/oauth/revoke")
async def revoke(request: Request) -> Response:
    server = authorization_server(request)
    oauth_request = await _form_request(request)
    return _respond(await run_in_threadpool(server.create_endpoint_response, "revocation", oauth_request))


@router.get("/.well-known/oauth-authorization-server")
def metadata(request: Request) -> dict:
    base = str(request.base_url).rstrip("/")
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "scopes_supported": sorted(scope.value for scope in PERSON_SCOPES),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
    }
