"""The server's auto-blocking rewrite (consent/autoblock.py): every vendor tag that would
load from a held host arrives gated, in the form the banner activates; nothing else in
the page changes, however the markup is written. e2e/test_autoblock_rewriter.py checks the
same documents against Chromium's own parser."""

import json
import re
from pathlib import Path

import pytest
from django.http import HttpResponse, StreamingHttpResponse
from hypothesis import given, settings
from hypothesis import strategies as st

from consent.autoblock import gate_response, gate_tags, url_host

ROOT = Path(__file__).resolve().parent.parent
HOSTS = {
    "required": ("cdn.shop.example",),
    "functional": ("www.googletagmanager.com", "www.youtube.com", "static.hotjar.com"),
    "advertising": ("connect.facebook.net", "*.doubleclick.net", "ads.example:8443"),
}
NOTHING = {"required"}


def gated(html: str, allowed=NOTHING, hosts=HOSTS) -> str:
    return gate_tags(html.encode(), hosts, allowed).decode()


# banner_static/test/url-host-cases.json: the same URLs the banner's tests read with Node's
# WHATWG URL parser ("browser"); the server reads the same host, or holds back where it
# cannot know the page's scheme ("server").
URL_CASES = json.loads((ROOT / "banner_static/test/url-host-cases.json").read_text())


@pytest.mark.parametrize("case", URL_CASES, ids=[c["why"] for c in URL_CASES])
def test_it_reads_the_host_a_browser_loads_from(case):
    assert url_host(case["url"]) == case["server"]


def test_it_gates_the_google_tag_as_published():
    html = '<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
    assert gated(html) == (
        "<script type=text/plain data-consent=functional async "
        'src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
    )


def test_it_keeps_a_scripts_own_type_for_when_it_runs():
    html = "<script type=module src=//connect.facebook.net/m.js></script>"
    assert gated(html) == (
        "<script type=text/plain data-consent=advertising data-consent-type=module "
        "src=//connect.facebook.net/m.js></script>"
    )


@pytest.mark.parametrize(
    "kind", ["text/javascript", "application/javascript", " TEXT/JavaScript ", "", "module"]
)
def test_it_gates_every_type_a_browser_runs(kind):
    html = f'<script type="{kind}" src="https://static.hotjar.com/c/h.js"></script>'
    assert "type=text/plain data-consent=functional" in gated(html)


@pytest.mark.parametrize(
    "html",
    [
        '<script type="application/ld+json" src="https://static.hotjar.com/a.json"></script>',
        '<script type="text/javascript; charset=utf-8" src="https://static.hotjar.com/a"></script>',
        '<script type=text/plain data-consent=functional src="https://static.hotjar.com/a.js"></script>',
        '<script language="vbscript" src="https://static.hotjar.com/a.vbs"></script>',
    ],
    ids=["data block", "type with parameters", "gated by the site", "another language"],
)
def test_it_leaves_scripts_a_browser_would_not_run(html):
    assert gated(html) == html


def test_it_gates_a_youtube_embed_as_published():
    html = (
        '<iframe width="560" height="315" src="https://www.youtube.com/embed/dQw4w9WgXcQ?si=x" '
        'title="YouTube video player" frameborder="0" allow="accelerometer; autoplay; '
        'clipboard-write; encrypted-media; gyroscope; picture-in-picture; web-share" '
        'referrerpolicy="strict-origin-when-cross-origin" allowfullscreen></iframe>'
    )
    assert gated(html) == html.replace(
        '<iframe width="560" height="315" src=',
        '<iframe data-consent=functional width="560" height="315" data-consent-src=',
    )


def test_it_gates_a_pixel_in_noscript_which_a_browser_without_scripts_loads():
    html = (
        '<noscript><img height="1" width="1" style="display:none"\n'
        'src="https://googleads.g.doubleclick.net/pagead/viewthroughconversion/1/?guid=ON&amp;script=0"'
        "\n/></noscript>"
    )
    assert gated(html) == html.replace(
        '<img height="1"', '<img data-consent=advertising height="1"'
    ).replace("\nsrc=", "\ndata-consent-src=")


@pytest.mark.parametrize(
    "html,expected",
    [
        (
            "<IMG SRC=https://x.doubleclick.net/p.gif>",
            "<IMG data-consent=advertising data-consent-src=https://x.doubleclick.net/p.gif>",
        ),
        (
            "<img src='//x.doubleclick.net/p.gif'>",
            "<img data-consent=advertising data-consent-src='//x.doubleclick.net/p.gif'>",
        ),
        (
            "<img/src=https://x.doubleclick.net/p.gif>",
            "<img data-consent=advertising /data-consent-src=https://x.doubleclick.net/p.gif>",
        ),
        (
            '<img\nalt="a > b"\nsrc = "https://x.doubleclick.net/p.gif">',
            '<img data-consent=advertising\nalt="a > b"\ndata-consent-src = "https://x.doubleclick.net/p.gif">',
        ),
        (
            # The parser reads <image> as <img>.
            "<image src=https://x.doubleclick.net/p.gif>",
            "<image data-consent=advertising data-consent-src=https://x.doubleclick.net/p.gif>",
        ),
        (
            # A quote starts a value only after "=": here it is part of the value.
            '<img alt=a"b src=https://x.doubleclick.net/p.gif>',
            '<img data-consent=advertising alt=a"b data-consent-src=https://x.doubleclick.net/p.gif>',
        ),
        (
            "<img alt='<b>' src=https://x.doubleclick.net/p.gif>",
            "<img data-consent=advertising alt='<b>' data-consent-src=https://x.doubleclick.net/p.gif>",
        ),
    ],
    ids=[
        "upper case",
        "single quotes",
        "slash",
        "newlines, > in a value",
        "image",
        "quote in value",
        "< in a value",
    ],
)
def test_it_reads_attributes_in_any_quoting_and_case(html, expected):
    assert gated(html) == expected


def test_the_first_src_counts_and_none_is_left_to_load():
    html = '<img src="https://ads.example/a.gif" SRC="https://shop.example/b.gif">'
    assert gated(html) == (
        '<img data-consent=advertising data-consent-src="https://ads.example/a.gif" '
        'data-consent-src="https://shop.example/b.gif">'
    )
    # The browser uses the first src: a first-party one first is no vendor's load.
    first_party = '<img src="https://shop.example/b.gif" src="https://ads.example/a.gif">'
    assert gated(first_party) == first_party


def test_an_img_loading_from_a_vendor_through_srcset_is_gated_whole():
    html = '<img src="/a.png" srcset="/a2.png 2x, https://x.doubleclick.net/p.gif 3x">'
    assert gated(html) == (
        '<img data-consent=advertising data-consent-src="/a.png" '
        'data-consent-srcset="/a2.png 2x, https://x.doubleclick.net/p.gif 3x">'
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://www.youtube.com/embed/x",
        "https://WWW.YOUTUBE.COM/embed/x",
        "//www.youtube.com/embed/x",
        "https://www.youtube.com./embed/x",
        "https://user@www.youtube.com:443/embed/x",
        "https://a.b.doubleclick.net/x",
        "https://ads.example/x",
        "https://ads.example:9000/x",
    ],
)
def test_a_vendor_host_holds_back_its_subdomains_on_any_port(url):
    assert "data-consent-src" in gated(f'<iframe src="{url}"></iframe>')


@pytest.mark.parametrize(
    "url",
    [
        "https://youtube.com/embed/x",  # a parent of a vendor host is not the vendor
        "https://www.youtube.com.evil.example/x",
        "https://evil.example/?u=https://www.youtube.com/x",
        "https://www.youtube.com@evil.example/x",
        "https://notdoubleclick.net/x",
        "https://cdn.shop.example/video",  # a required vendor
        "/embed/x",
        "embed.html",
    ],
)
def test_other_hosts_load_as_written(url):
    html = f'<iframe src="{url}"></iframe>'
    assert gated(html) == html


def test_it_leaves_what_the_visitor_allowed():
    html = (
        '<script src="https://www.googletagmanager.com/gtag/js"></script>'
        '<img src="https://x.doubleclick.net/p.gif">'
    )
    assert gated(html, allowed={"required", "functional"}) == (
        '<script src="https://www.googletagmanager.com/gtag/js"></script>'
        '<img data-consent=advertising data-consent-src="https://x.doubleclick.net/p.gif">'
    )
    assert gated(html, allowed={"required", "functional", "advertising"}) == html


def test_it_leaves_the_sites_own_gating_as_it_is():
    html = (
        '<iframe data-consent=advertising src="https://www.youtube.com/embed/x"></iframe>'
        '<iframe data-consent=functional data-consent-src="https://www.youtube.com/embed/y"></iframe>'
    )
    assert gated(html) == html


def test_a_page_with_nothing_to_gate_is_returned_as_it_is():
    body = (
        b'<p>Visit www.youtube.com or <a href="https://www.youtube.com/@shop">our channel</a>.</p>'
    )
    assert gate_tags(body, HOSTS, NOTHING) is body


@pytest.mark.parametrize(
    "html",
    [
        '<!-- <script src="https://www.googletagmanager.com/gtag/js"></script> -->',
        '<!--<img src="https://x.doubleclick.net/p.gif">--!>',
        '<!-- a -- b <img src="https://x.doubleclick.net/p.gif"> -->',
        "<script>document.write('<img src=\"https://x.doubleclick.net/p.gif\">')</script>",
        "<script>var s = '</scrip' + 't><img src=https://x.doubleclick.net/p.gif>';</script>",
        # Escaped script data: the inner </script> does not end it (HTML, "script data
        # double escaped state").
        '<script><!--<script>x="</script>";<img src="https://x.doubleclick.net/p.gif">--></script>',
        '<style>a::after { content: "<img src=https://x.doubleclick.net/p.gif>" }</style>',
        '<textarea><iframe src="https://www.youtube.com/embed/x"></iframe></textarea>',
        '<title><img src="https://x.doubleclick.net/p.gif"></title>',
        '<xmp><img src="https://x.doubleclick.net/p.gif"></xmp>',
        '<iframe src="/frame"><img src="https://x.doubleclick.net/p.gif"></iframe>',
        '<noembed><img src="https://x.doubleclick.net/p.gif"></noembed>',
        '<noframes><img src="https://x.doubleclick.net/p.gif"></noframes>',
        '<a title="<img src=https://x.doubleclick.net/p.gif>">x</a>',
        "<a title='<script src=https://static.hotjar.com/c/h.js></script>'>x</a>",
        '<plaintext><img src="https://x.doubleclick.net/p.gif">',
        # The "<style>" in the value opens nothing, so the comment is one.
        '<a title="<style>">x</a><!-- </style> <img src="https://x.doubleclick.net/p.gif"> -->',
    ],
    ids=[
        "comment",
        "comment ending --!>",
        "comment with --",
        "script body",
        "script body with </scrip",
        "escaped script body",
        "style",
        "textarea",
        "title",
        "xmp",
        "iframe content",
        "noembed",
        "noframes",
        "attribute value",
        "single-quoted attribute value",
        "plaintext",
        "comment after an opener in an attribute value",
    ],
)
def test_it_touches_no_text_that_is_not_markup(html):
    assert gated(html) == html


def test_a_real_tag_after_text_that_is_not_markup_is_gated():
    html = (
        "<!-- a comment -->"
        '<script>var s = "<script>"; var t = "<!--";</script>'
        '<a title="x>y">z</a>'
        "<style>p > a {}</style><title>A > B</title>"
        '<img src="https://x.doubleclick.net/p.gif">'
    )
    assert gated(html).endswith(
        '<img data-consent=advertising data-consent-src="https://x.doubleclick.net/p.gif">'
    )


@pytest.mark.parametrize(
    "opener",
    ["<!--", "<script>", "<style>", "<textarea>", "<plaintext>"],
)
def test_a_comment_or_raw_text_opener_in_an_attribute_value_hides_nothing(opener):
    # A browser reads the value as text: the tags after it are markup.
    closer = "-->" if opener == "<!--" else "</" + opener[1:]
    html = (
        f'<a title="{opener}">x</a>'
        '<img src="https://x.doubleclick.net/p.gif">'
        f"<a title='{closer}'>y</a>"
    )
    assert "data-consent-src" in gated(html)


@pytest.mark.parametrize(
    "prefix",
    ["<!-->", "<!--->", "<script><!--<script></script>--></script>", "<textarea></textarea>"],
    ids=["<!-->", "<!--->", "escaped script that ends", "empty textarea"],
)
def test_short_and_escaped_constructs_end_where_a_browser_ends_them(prefix):
    html = prefix + '<img src="https://x.doubleclick.net/p.gif">'
    assert "data-consent-src" in gated(html)


@pytest.mark.parametrize(
    "html",
    [
        '<img src="https://x.doubleclick.net/p.gif"',
        '<!-- <img src="https://x.doubleclick.net/p.gif">',
        '<script><img src="https://x.doubleclick.net/p.gif">',
        '<img alt="<img src=https://x.doubleclick.net/p.gif>',
    ],
    ids=["tag", "comment", "script", "attribute value"],
)
def test_markup_that_never_ends_is_left_as_it_is(html):
    # A browser loads nothing from an unterminated tag, comment or script.
    assert gated(html) == html


def undo(gated_body: bytes) -> bytes:
    """The body a gated one came from: the inserted attributes taken out again."""
    inserted = re.compile(
        rb" (?:type=text/plain )?data-consent=(?:functional|advertising)(?: (?=[/>]))?"
    )
    return (
        inserted.sub(b"", gated_body)
        .replace(b"data-consent-type", b"type")
        .replace(b"data-consent-srcset", b"srcset")
        .replace(b"data-consent-src", b"src")
    )


@pytest.mark.parametrize(
    "filler",
    [
        "<a " * 20000,
        '<a b="' * 20000,
        "<a b=c" * 20000,
        "<!--" * 20000,
        "=" * 50000,
        "<script>" * 20000,
    ],
    ids=[
        "tag starts",
        "open quotes",
        "unquoted values",
        "comment starts",
        "equals",
        "script starts",
    ],
)
def test_hostile_repetition_takes_one_pass_and_only_adds_attributes(filler):
    # Each of these would take minutes with a regular expression that backtracks.
    body = (filler + '<img src="https://x.doubleclick.net/p.gif">').encode()
    assert undo(gate_tags(body, HOSTS, NOTHING)) == body


def test_many_vendor_tags_are_each_gated():
    vendor = '<img src="https://x.doubleclick.net/p.gif">'
    assert gated(vendor * 5000).count("data-consent-src") == 5000


def test_a_non_ascii_page_keeps_its_bytes():
    html = '<p>Théière à thé \u2013 茶壺</p><img alt="茶" src="https://x.doubleclick.net/p.gif">'
    assert gated(html) == html.replace(
        '<img alt="茶" src=', '<img data-consent=advertising alt="茶" data-consent-src='
    )


def test_a_category_slug_is_written_escaped():
    # Slugs are validated in the model; the attribute is still written safely.
    out = gated('<img src="https://x.example/p.gif">', hosts={'a"b': ("x.example",)})
    assert out == '<img data-consent="a&quot;b" data-consent-src="https://x.example/p.gif">'


FRAGMENTS = [
    '<img src="https://x.doubleclick.net/p.gif">',
    "<img/src=https://x.doubleclick.net/q.gif/>",
    "<script src=https://static.hotjar.com/h.js></script>",
    '<iframe src="//www.youtube.com/embed/x"></iframe>',
    "<!--",
    "-->",
    "<script>",
    "</script>",
    "<style>",
    "</style>",
    '<a title="',
    '">',
    "'",
    '"',
    "<",
    ">",
    "=",
    "text ",
    "<p>",
    "</p>",
    "<noscript>",
    "<svg>",
    "</svg>",
    "&amp;",
    " src=https://ads.example/x ",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40))
def test_any_sequence_of_fragments_is_gated_once_and_keeps_its_text(parts):
    body = "".join(parts).encode()
    once = gate_tags(body, HOSTS, NOTHING)
    # Gated tags are the site's own gating from then on: a second pass changes nothing.
    assert gate_tags(once, HOSTS, NOTHING) == once
    # Only attributes were added or renamed: take them out and the page is what it was.
    assert undo(once) == body


def page_response(body: bytes, **headers) -> HttpResponse:
    response = HttpResponse(
        body, content_type=headers.pop("content_type", "text/html; charset=utf-8")
    )
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


VENDOR_PAGE = b'<p>x</p><img src="https://x.doubleclick.net/p.gif">'


def test_a_response_is_gated_with_its_length_and_without_a_stale_etag():
    response = page_response(VENDOR_PAGE, Content_Length=str(len(VENDOR_PAGE)), ETag='"v1"')
    assert gate_response(response, HOSTS, NOTHING) is True
    assert b'data-consent-src="https://x.doubleclick.net/p.gif"' in response.content
    assert response["Content-Length"] == str(len(response.content))
    assert "ETag" not in response


@pytest.mark.parametrize(
    "response",
    [
        page_response(VENDOR_PAGE, content_type="application/json"),
        page_response(VENDOR_PAGE, Content_Encoding="gzip"),
        page_response(
            VENDOR_PAGE.decode().encode("utf-16"), content_type="text/html; charset=utf-16"
        ),
    ],
    ids=["not HTML", "compressed", "UTF-16"],
)
def test_responses_it_cannot_read_are_left_as_they_are(response):
    before = response.content
    assert gate_response(response, HOSTS, NOTHING) is False
    assert response.content == before


def test_a_streaming_response_passes_untouched():
    response = StreamingHttpResponse(iter([VENDOR_PAGE]), content_type="text/html")
    assert gate_response(response, HOSTS, NOTHING) is False
    assert b"".join(response.streaming_content) == VENDOR_PAGE
