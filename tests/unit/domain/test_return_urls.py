"""Return URLs (success_url, cancel_url, return_url): which are well formed, and which are on a
project's allowed origins. Each row decides one spelling explicitly."""

from __future__ import annotations

import pytest

from billing.domain.checkout import check_return_url
from billing.domain.tenancy import Project, url_origin
from billing.errors import ValidationError

OPEN = Project(project_id="1", name="open")  # no allowed origins: any well-formed URL
ALLOWED = "https://a.example.com"
GUARDED = Project(project_id="2", name="guarded", allowed_origins=(ALLOWED,))

WELL_FORMED = {
    "plain": ("https://a.example.com/ok", "https://a.example.com"),
    "no path": ("https://a.example.com", "https://a.example.com"),
    "upper case scheme and host": ("HTTPS://A.Example.COM/Ok", "https://a.example.com"),
    "default https port dropped": ("https://a.example.com:443/ok", "https://a.example.com"),
    "leading zeros of the default port": ("https://a.example.com:0443/", "https://a.example.com"),
    "other port kept": ("https://a.example.com:8443/ok", "https://a.example.com:8443"),
    "highest port": ("https://a.example.com:65535/", "https://a.example.com:65535"),
    "query and fragment": (
        "https://a.example.com/ok?session={CHECKOUT_SESSION_ID}#done",
        "https://a.example.com",
    ),
    "fragment route": ("https://a.example.com/#/billing", "https://a.example.com"),
    "percent-encoded path": ("https://a.example.com/caf%C3%A9?next=%2F%2Fx", ALLOWED),
    "unicode path": ("https://a.example.com/café", ALLOWED),
    "punycode host": ("https://xn--caf-dma.example/", "https://xn--caf-dma.example"),
    "hyphens and digits": ("https://a-1.b2.example/", "https://a-1.b2.example"),
    "single label": ("https://intranet/", "https://intranet"),
    "ipv4": ("https://203.0.113.7/", "https://203.0.113.7"),
    "ipv6": ("https://[2001:DB8::1]:8443/", "https://[2001:db8::1]:8443"),
    "https on ipv6 loopback": ("https://[::1]/", "https://[::1]"),
    "http on localhost": ("http://localhost:3000/cb", "http://localhost:3000"),
    "http default port dropped": ("http://localhost:80/cb", "http://localhost"),
    "http on 127.0.0.1": ("http://127.0.0.1/", "http://127.0.0.1"),
    "http on ipv6 loopback": ("http://[::1]:8000/", "http://[::1]:8000"),
}

MALFORMED = {
    "space as host": "https:// /",
    "space in host": "https://exa mple.com/",
    "tab after host": "https://a.example.com\t/",
    "newline in path": "https://a.example.com/o\nk",
    "leading space": " https://a.example.com/",
    "trailing space": "https://a.example.com/ ",
    "space in path": "https://a.example.com/o k",
    "no-break space": "https://a.example.com/\u00a0",
    "ideographic space": "https://a.example.com/\u3000",
    "zero width space in host": "https://a.exam\u200bple.com/",
    "bidi override": "https://a.example.com/\u202e",
    "DEL": "https://a.example.com/\x7f",
    "C1 control": "https://a.example.com/\x85",
    "NUL": "https://a.example.com\x00/",
    "empty userinfo": "https://@a.example.com/",
    "user": "https://u@a.example.com/",
    "user and password": "https://u:p@a.example.com/",
    "allowed at evil": "https://a.example.com@evil.example/",
    "backslash userinfo": "https://a.example.com\\@evil.example/",
    "backslash in path": "https://a.example.com/\\evil.example",
    "backslash for slashes": "https:\\\\evil.example/",
    "percent-encoded host": "https://a%2Eexample.com/",
    "percent-encoded host byte": "https://%61.example.com/",
    "unicode host": "https://café.example/",
    "unicode lookalike host": "https://\u0430.example.com/",  # Cyrillic a
    "fullwidth dot": "https://a\uff0eexample.com/",
    "trailing dot": "https://a.example.com./",
    "empty label": "https://a..example.com/",
    "leading dot": "https://.a.example.com/",
    "label starting with a hyphen": "https://-a.example.com/",
    "label ending with a hyphen": "https://a-.example.com/",
    "label of 64 characters": f"https://{'a' * 64}.example/",
    "underscore": "https://a_b.example.com/",
    "numeric last label": "https://a.example.123/",
    "hex last label": "https://a.0x7f/",
    "short ipv4": "https://127.1/",
    "ipv4 out of range": "https://256.0.0.1/",
    "ipv4 with leading zeros": "https://010.0.0.1/",
    "port 0": "https://a.example.com:0/",
    "port 00": "https://a.example.com:00/",
    "port 65536": "https://a.example.com:65536/",
    "port 99999": "https://a.example.com:99999/",
    "port abc": "https://a.example.com:abc/",
    "port +443": "https://a.example.com:+443/",
    "port -1": "https://a.example.com:-1/",
    "empty port": "https://a.example.com:/",
    "two ports": "https://a.example.com:443:443/",
    "Arabic-Indic port digits": "https://a.example.com:4\u0664\u0663/",
    "ipv6 unbracketed": "https://::1/",
    "ipv6 unclosed": "https://[::1/",
    "ipv6 invalid": "https://[::g]/",
    "ipv6 zone": "https://[fe80::1%25eth0]/",
    "ipvfuture": "https://[v1.fe]/",
    "junk after ipv6": "https://[::1]x/",
    "http off localhost": "http://a.example.com/",
    "ftp": "ftp://a.example.com/",
    "javascript": "javascript:alert(1)",
    "data": "data:text/html,<script>alert(1)</script>",
    "no scheme": "a.example.com/ok",
    "protocol-relative": "//a.example.com/ok",
    "single slash": "https:/a.example.com/ok",
    "no host": "https:///ok",
    "empty": "",
}


@pytest.mark.parametrize(("url", "origin"), WELL_FORMED.values(), ids=WELL_FORMED.keys())
def test_a_well_formed_url_has_its_origin(url: str, origin: str) -> None:
    assert url_origin(url, "success_url") == origin
    assert check_return_url(OPEN, url, "success_url") == url


@pytest.mark.parametrize("url", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.parametrize("project", [OPEN, GUARDED], ids=["no origins", "allowed origin"])
@pytest.mark.parametrize("field", ["success_url", "cancel_url", "return_url"])
def test_a_malformed_url_is_refused_naming_the_field(
    url: str, project: Project, field: str
) -> None:
    with pytest.raises(ValidationError) as error:
        check_return_url(project, url, field)
    assert error.value.field == field
    assert "allowed origin" not in error.value.reason  # refused for its form, not its origin


@pytest.mark.parametrize(
    "url",
    [
        "https://a.example.com/ok",
        "https://A.EXAMPLE.COM/ok",
        "https://a.example.com:443/ok",
        "https://a.example.com:443",
        "https://a.example.com/ok#frag",
    ],
)
def test_a_url_on_the_allowed_origin_passes_whatever_its_spelling(url: str) -> None:
    assert check_return_url(GUARDED, url, "return_url") == url


@pytest.mark.parametrize(
    "url",
    [
        "https://a.example.com:8443/ok",
        "https://b.example.com/ok",
        "https://a.example.com.evil.example/ok",
        "https://example.com/ok",
    ],
)
def test_a_url_on_another_origin_is_not_allowed(url: str) -> None:
    with pytest.raises(ValidationError, match="not an allowed origin") as error:
        check_return_url(GUARDED, url, "cancel_url")
    assert error.value.field == "cancel_url"


@pytest.mark.parametrize(
    "stored", ["https://a.example.com:443", "https://A.example.com", "https://a.example.com"]
)
def test_a_stored_origin_with_its_default_port_matches_the_same_origin(stored: str) -> None:
    """Origins stored before the default port was dropped still match."""
    project = Project(project_id="3", name="old", allowed_origins=(stored,))
    assert check_return_url(project, "https://a.example.com/ok", "success_url")
    assert check_return_url(project, "https://a.example.com:443/ok", "success_url")


def test_http_and_https_on_the_same_host_are_different_origins() -> None:
    project = Project(project_id="4", name="dev", allowed_origins=("http://localhost:3000",))
    assert check_return_url(project, "http://localhost:3000/ok", "success_url")
    with pytest.raises(ValidationError, match="not an allowed origin"):
        check_return_url(project, "https://localhost:3000/ok", "success_url")
