"""Issue 5 §3 and §11: every page and endpoint, as every role, shows personal data only masked; no URL carries
personal data; no page has inline script. One populated city, one crawl (fast), many assertions.

The crawl enumerates the URL patterns themselves: a new page whose parameters the crawl cannot fill makes the
test fail, so nobody can add a page it does not look at."""

from __future__ import annotations

import io
import logging
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from tests.otp_client import OtpClient
from tests.security.dataset import City, build_city

ROLES = ["anonymous", "clerk", "committee", "notary", "operator", "superuser"]
_PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>|\(\?P<(?P<rname>\w+)>[^)]*\)")
_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)
_HANDLER_ATTR = re.compile(r"\son[a-z]+\s*=", re.I)
_URL_ATTR = re.compile(r"""(?:href|src|action)\s*=\s*["']([^"']*)["']""", re.I)
_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
PERSONAL_INPUTS = ("id_number", "phone", "name")


def _patterns(resolvers: list[Any], prefix: str = "", ns: str = "") -> list[tuple[str, str]]:
    """(route, name) of every URL pattern, with nested includes joined."""
    out: list[tuple[str, str]] = []
    for p in resolvers:
        route = str(p.pattern).lstrip("^").rstrip("$")
        if isinstance(p, URLResolver):
            inner_ns = f"{ns}{p.namespace}:" if p.namespace else ns
            out += _patterns(p.url_patterns, prefix + route, inner_ns)
        elif isinstance(p, URLPattern):
            out.append((prefix + route, f"{ns}{p.name or ''}"))
    return out


def _admin_object(route: str) -> Any:
    m = re.match(r"admin/(\w+)/(\w+)/", route)
    if not m:
        return None
    model = apps.get_model(m.group(1), m.group(2))
    return model._default_manager.order_by("pk").first()


def _fill(route: str, name: str, city: City) -> str | None:
    """A concrete path for the pattern, or None when a parameter is unknown."""
    reg = city.registrations[0]
    values: dict[str, str] = {
        "slug": city.campaign.slug, "district_code": "350203", "draw_id": city.draw.draw_id,
        "name": "results.csv", "entry_id": reg.entry_id, "code": "350203", "app_label": "registrations",
        "number": reg.number,
    }
    by_name = {"backoffice:registration": reg.pk, "backoffice:registration-reveal": reg.pk,
               "backoffice:export-approve": city.export.pk, "backoffice:export-download": city.export.pk}
    missing: list[str] = []
    empty: list[str] = []

    def sub(m: re.Match[str]) -> str:
        key = m.group("name") or m.group("rname")
        if key in ("pk", "object_id", "id"):
            if name in by_name:
                return str(by_name[name])
            if key == "pk" and name.startswith("backoffice:draw"):
                return str(city.draw.pk)
            if route.startswith("admin/"):
                obj = _admin_object(route)
                if obj is None:
                    empty.append(route)  # no row of this model: its object pages have nothing to show
                    return ""
                return str(obj.pk)
        if key in values:
            return values[key]
        missing.append(key)
        return ""

    path = "/" + _PARAM.sub(sub, route)
    path = path.replace("\\", "").replace("(?:", "").replace(")?", "").replace("$", "")
    if empty:
        return ""
    return None if missing else path


SKIP_ROUTES = {
    "admin/r/<path:content_type_id>/<path:object_id>/",  # a redirect to the object's public URL (none here)
    "admin/(?P<url>.*)",  # the admin's catch-all (404 or login redirect)
}


def _page_urls(city: City) -> tuple[list[str], list[str]]:
    urls, unfilled = [], []
    for route, name in _patterns(get_resolver().url_patterns):
        if route in SKIP_ROUTES or route.startswith("static/") or "logout" in route:
            continue
        if route.startswith("admin/") and "(?P<app_label>" in route:
            route = re.sub(r"\(\?P<app_label>[^)]*\)", "registrations", route)
        path = _fill(route, name, city)
        if path == "":
            continue
        if path is None:
            unfilled.append(route)
        elif "(" not in path and "[" not in path:
            urls.append(path)
        else:
            unfilled.append(route)
    return sorted(set(urls)), unfilled


def _client_for(role: str, city: City) -> OtpClient:
    client = OtpClient()
    if role != "anonymous":
        client.force_login(city.users[role])
    return client


def _configured_handlers() -> list[logging.Handler]:
    from allot.core.logging import PersonalDataFilter

    return [h for h in logging.getLogger().handlers if any(isinstance(f, PersonalDataFilter) for f in h.filters)]


@pytest.fixture
def city(xiamen, django_capture_on_commit_callbacks) -> City:
    return build_city(xiamen, django_capture_on_commit_callbacks)


def test_every_page_and_endpoint_as_every_role_shows_personal_data_only_masked(city):
    # given the populated city, the page list from the URL patterns, and the log handlers writing to a buffer
    urls, unfilled = _page_urls(city)
    assert unfilled == [], f"the crawl cannot fill these URL patterns; add their parameters: {unfilled}"
    assert len(urls) > 60, urls
    handlers = _configured_handlers()
    assert handlers, "the console handler must carry the PersonalDataFilter (config/settings/base.py LOGGING)"
    log = io.StringIO()
    old_streams = [h.setStream(log) for h in handlers if isinstance(h, logging.StreamHandler)]
    leaks: list[str] = []
    masked_seen: dict[str, int] = dict.fromkeys(ROLES, 0)
    statuses: dict[str, int] = {}
    try:
        for role in ROLES:
            client = _client_for(role, city)
            responses = [(u, client.get(u)) for u in urls]
            responses.append(("POST /staff/redeem/", client.post("/staff/redeem/", {
                "code": city.registrations[0].pickup.code if hasattr(city.registrations[0], "pickup") else "X",
                "nonce": "n1"})))
            responses.append(("POST /staff/registrations/", client.post("/staff/registrations/",
                                                                      {"number": city.registrations[1].number})))
            responses.append(("GET /c/<id number>/", client.get(f"/c/{city.residents[0].id_number}/")))
            for url, response in responses:
                body = b"".join(response.streaming_content) if response.streaming else response.content
                text = body.decode("utf-8", "replace") + "\n" + "\n".join(f"{k}: {v}" for k, v in response.items())
                statuses[f"{role} {url}"] = response.status_code
                found = city.leaks(text)
                if found:
                    leaks.append(f"{role} {url} [{response.status_code}]: {found}")
                masked_seen[role] += sum(text.count(m) for m in city.masked_forms())
    finally:
        for h, old in zip(handlers, old_streams, strict=False):
            h.setStream(old)
    # then nothing unmasked was rendered anywhere, to anyone
    assert leaks == []
    # and the data really was rendered, in masked form, to the roles that may see it
    assert masked_seen["superuser"] > 0 and masked_seen["operator"] > 0, masked_seen
    assert masked_seen["anonymous"] == 0 and masked_seen["clerk"] == 0 and masked_seen["committee"] == 0
    # and the pages were really reached (not just redirects to the login)
    assert statuses[f"operator /staff/registrations/{city.registrations[0].pk}/"] == 200
    assert statuses["superuser /admin/identity/person/"] == 200
    # and the log lines written meanwhile (404s name the path with the ID number) are masked too
    logged = log.getvalue()
    assert "Not Found" in logged, "nothing was logged: the log check would prove nothing"
    assert city.leaks(logged) == []
    assert city.residents[0].id_number[:6] + "********" in logged


def test_reveal_is_the_one_place_full_values_appear_and_the_crawl_would_see_them(city):
    # given an operator of the campaign
    client = _client_for("operator", city)
    reg = city.registrations[1]
    # when they reveal with a purpose
    response = client.post(f"/staff/registrations/{reg.pk}/reveal/",
                           {"purpose": "Resident asked to correct the phone number"})
    # then the full values are there (the grep of the crawl finds them: it can fail)
    assert response.status_code == 200
    assert city.leaks(response.content.decode()) != []
    assert response["Cache-Control"] == "no-store"


def _url_problems(role: str, url: str, response: Any, html: str, city: City) -> list[str]:
    problems = []
    location = response.get("Location", "")
    if city.leaks(location):
        problems.append(f"{role} {url}: redirect to {location}")
    for link in _URL_ATTR.findall(html):
        if city.leaks(link) or {"id_number", "phone"} & set(parse_qs(urlsplit(link).query)):
            problems.append(f"{role} {url}: link {link}")
    for attrs, inner in _FORM.findall(html):
        if any(f'name="{k}"' in inner for k in PERSONAL_INPUTS) and 'method="post"' not in attrs.lower():
            problems.append(f"{role} {url}: a form with personal fields is not POST: {attrs}")
    return problems


def _script_problems(role: str, url: str, html: str) -> list[str]:
    problems = []
    for attrs, body in _SCRIPT.findall(html):
        is_data = "application/json" in attrs or "application/ld+json" in attrs
        if body.strip() and not is_data:
            problems.append(f"{role} {url}: inline <script{attrs}>")
    if _HANDLER_ATTR.search(re.sub(r"<script\b.*?</script>", "", html, flags=re.S)):
        problems.append(f"{role} {url}: an on…= event handler attribute")
    return problems


def test_no_url_carries_personal_data_and_no_page_has_inline_script(city):
    # given every HTML page as every role
    urls, _unfilled = _page_urls(city)
    pages = 0
    url_problems: list[str] = []
    script_problems: list[str] = []
    for role in ROLES:
        client = _client_for(role, city)
        for url in urls:
            response = client.get(url)
            html = response.content.decode("utf-8", "replace") if not response.streaming else ""
            url_problems += _url_problems(role, url, response, html, city)
            if response.status_code != 200 or not response.get("Content-Type", "").startswith("text/html"):
                continue
            pages += 1
            script_problems += _script_problems(role, url, html)
            assert "script-src 'self'" in response["Content-Security-Policy"]
    # then no link, redirect or GET form carries personal data, and no page has inline script (CSP forbids it)
    assert pages > 50
    assert url_problems == []
    assert script_problems == []
