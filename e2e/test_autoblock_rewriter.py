"""The server's rewrite (consent/autoblock.py) against Chromium's own HTML parser: for each
document, before and after the rewrite, Chromium's DOMParser builds the tree (with
scripting off, so <noscript> is markup, as for the visitors the rewrite protects there).
After the rewrite no element would load from a held host; and the two trees are the same
node for node, text for text (script bodies, comments, raw text), attribute for
attribute, but for the gating attributes the rewrite adds or renames. The documents are
the unit tests' tricky ones, the vendors' snippet pages, and random mixes of fragments
chosen to confuse a tokenizer."""

import random
import re

import pytest

from consent.autoblock import gate_tags

from .conftest import HERE

HOSTS = {
    "required": ("cdn.shop.example",),
    "functional": (
        "www.googletagmanager.com",
        "www.youtube.com",
        "static.hotjar.com",
        "maps.google.com",
    ),
    "advertising": (
        "connect.facebook.net",
        "www.facebook.com",
        "*.doubleclick.net",
        "snap.licdn.com",
        "px.ads.linkedin.com",
    ),
}
HELD = [h.removeprefix("*.") for c, hosts in HOSTS.items() if c != "required" for h in hosts]

# In the page: what in a parsed document would load from a held host, and the tree with
# the gating undone, for comparison.
COMPARE = """([original, rewritten, held]) => {
    const parse = (html) => new DOMParser().parseFromString(html, "text/html");
    const isHeld = (url) => {
        if (url === null) return false;
        let host;
        try { host = new URL(url, "https://shop.example/page").hostname.replace(/\\.$/, ""); }
        catch { return false; }
        return held.some((h) => host === h || host.endsWith("." + h));
    };
    const JS = /^(|module|(text|application)\\/(x-)?(javascript|ecmascript)|text\\/(jscript|livescript|javascript1\\.[0-5]))$/;
    const runs = (script) => {
        const type = script.getAttribute("type");
        const kind = type === null ? (script.getAttribute("language") ? "text/" + script.getAttribute("language") : "") : type;
        return JS.test(kind.trim().toLowerCase());
    };
    const loads = (doc) => [...doc.querySelectorAll("script[src], iframe[src], img, image")]
        .filter((e) => e.namespaceURI === "http://www.w3.org/1999/xhtml")
        .filter((e) => e.tagName === "SCRIPT" ? runs(e) && isHeld(e.getAttribute("src"))
            : isHeld(e.getAttribute("src")) || (e.getAttribute("srcset") || "").split(",")
                .some((c) => isHeld(c.trim().split(/\\s+/)[0] || null)))
        .map((e) => e.outerHTML.slice(0, 120));
    const undo = (element, before) => {
        const a = new Map([...element.attributes].map((x) => [x.name, x.value]));
        if (a.has("data-consent") && !before.hasAttribute("data-consent")) {
            a.delete("data-consent");
            if (element.tagName === "SCRIPT") {
                if (a.has("data-consent-type")) { a.set("type", a.get("data-consent-type")); a.delete("data-consent-type"); }
                else a.delete("type");
            }
            for (const name of ["src", "srcset"]) {
                if (a.has("data-consent-" + name)) { a.set(name, a.get("data-consent-" + name)); a.delete("data-consent-" + name); }
            }
        }
        return JSON.stringify([...a].sort());
    };
    const differences = [];
    const walk = (x, y, path) => {
        if (x.nodeType !== y.nodeType || x.nodeName !== y.nodeName) {
            differences.push(path + ": " + x.nodeName + " became " + y.nodeName); return;
        }
        if (x.nodeType === Node.TEXT_NODE || x.nodeType === Node.COMMENT_NODE) {
            if (x.data !== y.data) differences.push(path + ": text " + JSON.stringify(x.data.slice(0, 60)));
            return;
        }
        if (x.nodeType === Node.ELEMENT_NODE) {
            const before = JSON.stringify([...x.attributes].map((a) => [a.name, a.value]).sort());
            if (undo(y, x) !== before) differences.push(path + ": attributes of " + x.outerHTML.slice(0, 80));
        }
        const xs = x.nodeName === "TEMPLATE" ? x.content.childNodes : x.childNodes;
        const ys = y.nodeName === "TEMPLATE" ? y.content.childNodes : y.childNodes;
        if (xs.length !== ys.length) { differences.push(path + ": children of " + x.nodeName); return; }
        for (let i = 0; i < xs.length; i++) walk(xs[i], ys[i], path + "/" + xs[i].nodeName);
    };
    const before = parse(original), after = parse(rewritten);
    walk(before, after, "");
    return {loadsBefore: loads(before).length, loadsAfter: loads(after), differences};
}"""
# A quoted attribute value (or what looks like one) holding a "<": markup in an attribute,
# the one thing the rewrite does not read as Chromium does (consent/autoblock.py).
MARKUP_IN_A_VALUE = re.compile(r"""=\s*(?:"[^"]*<|'[^']*<)""")

TRICKY = [
    '<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>',
    "<script type=module src=//connect.facebook.net/m.js></script>",
    '<script type="application/ld+json" src="https://static.hotjar.com/a.json"></script>',
    '<script language="javascript" src="https://static.hotjar.com/a.js"></script>',
    "<IMG SRC=https://x.doubleclick.net/p.gif>",
    "<img/src=https://x.doubleclick.net/p.gif>",
    '<img\nalt="a > b"\nsrc = "https://x.doubleclick.net/p.gif">',
    "<image src=https://x.doubleclick.net/p.gif>",
    '<img alt=a"b src=https://x.doubleclick.net/p.gif>',
    "<img alt='<b>' src=https://x.doubleclick.net/p.gif>",
    '<img src="https://x.doubleclick.net/a.gif" SRC="https://shop.example/b.gif">',
    '<img src="/a.png" srcset="/a2.png 2x, https://x.doubleclick.net/p.gif 3x">',
    '<iframe src="https://user@www.youtube.com:443/embed/x"></iframe>',
    '<iframe src="https://www.youtube.com.evil.example/x"></iframe>',
    '<!-- <script src="https://www.googletagmanager.com/gtag/js"></script> -->',
    '<!--<img src="https://x.doubleclick.net/p.gif">--!><img src="https://x.doubleclick.net/q.gif">',
    '<!--><img src="https://x.doubleclick.net/p.gif">',
    '<!---><img src="https://x.doubleclick.net/p.gif">',
    "<script>var s = '</scrip' + 't><img src=https://x.doubleclick.net/p.gif>';</script>",
    '<script><!--<script>x="</script>";<img src="https://x.doubleclick.net/p.gif">--></script><img src="//www.youtube.com/b.png">',
    '<script><!--<script></script>--></script><img src="https://x.doubleclick.net/p.gif">',
    '<style>a::after { content: "<img src=https://x.doubleclick.net/p.gif>" }</style>',
    '<textarea><iframe src="https://www.youtube.com/embed/x"></iframe></textarea>',
    '<title><img src="https://x.doubleclick.net/p.gif"></title>',
    '<xmp><img src="https://x.doubleclick.net/p.gif"></xmp>',
    '<noembed><img src="https://x.doubleclick.net/p.gif"></noembed>',
    '<noframes><img src="https://x.doubleclick.net/p.gif"></noframes>',
    '<a title="<img src=https://x.doubleclick.net/p.gif>">x</a>',
    '<a title="<!--">x</a><img src="https://www.youtube.com/a.png"><!-- -->',
    '<noscript><img src="https://www.facebook.com/tr?id=1&amp;ev=PageView"></noscript>',
    '<template><img src="https://x.doubleclick.net/p.gif"></template>',
    '<plaintext><img src="https://x.doubleclick.net/p.gif">',
    '<img src="https://x.doubleclick.net/p.gif"',
    '<p>Th\u00e9i\u00e8re \u8336</p><img alt="\u8336" src="https://x.doubleclick.net/p.gif">',
]
FRAGMENTS = [
    '<img src="https://x.doubleclick.net/p.gif">',
    "<script src=https://static.hotjar.com/h.js></script>",
    '<iframe src="//www.youtube.com/embed/x"></iframe>',
    "<img src='https://px.ads.linkedin.com/c?a=1&amp;b=2'>",
    "<!--",
    "-->",
    "--!>",
    "<script>",
    "</script>",
    "<style>",
    "</style>",
    "<textarea>",
    "</textarea>",
    '<a title="',
    "<a title='",
    '">',
    "'>",
    "'",
    '"',
    "<",
    ">",
    "=",
    "/",
    "text ",
    "<p>",
    "</p>",
    "<noscript>",
    "</noscript>",
    "<template>",
    "</template>",
    "<table><tr><td>",
    "&amp;",
    "<!DOCTYPE html>",
]


def random_documents(count: int, seed: int = 15) -> list[str]:
    chooser = random.Random(seed)
    return ["".join(chooser.choices(FRAGMENTS, k=chooser.randint(1, 30))) for _ in range(count)]


def pages() -> list[str]:
    site = HERE / "site"
    texts = [(site / name).read_text() for name in ("vendor-snippets.html", "tag-manager.html")]
    return [
        t.replace("{banner}", "/c/demo.js").replace("{first_party}", "").replace("{nonce}", "n")
        for t in texts
    ]


CORPUS = [*TRICKY, *pages(), *random_documents(400)]


def compare(page, documents: list[str]) -> list[tuple[str, dict]]:
    results = []
    for html in documents:
        rewritten = gate_tags(html.encode(), HOSTS, {"required"}).decode()
        results.append((html, page.evaluate(COMPARE, [html, rewritten, HELD])))
    return results


def wrong(result: dict) -> bool:
    return bool(result["loadsAfter"] or result["differences"])


def test_chromium_reads_the_tricky_documents_and_the_vendor_pages_as_the_rewrite_does(page):
    results = compare(page, [*TRICKY, *pages()])
    assert [(html, r) for html, r in results if wrong(r)] == []


@pytest.mark.parametrize("seed", range(4))
def test_chromium_reads_random_documents_as_the_rewrite_does(page, seed):
    results = compare(page, random_documents(150, seed=seed))
    plain = [(html, r) for html, r in results if not MARKUP_IN_A_VALUE.search(html)]
    assert len(plain) > 30
    assert [(html, r) for html, r in plain if wrong(r)] == []


def test_only_markup_inside_attribute_values_misleads_it_and_rarely(page):
    """Where an attribute value holds a tag ("<"), the rewrite reads the tags around it
    as markup a few tags back and no further, so in documents built to confuse it, it may
    gate too much or too little (the banner, which reads the browser's own tree, and the
    CSP still hold such tags back). Even in these random mixes it is rarely misled."""
    results = compare(page, random_documents(400, seed=16))
    with_markup = [r for html, r in results if MARKUP_IN_A_VALUE.search(html)]
    misread = [r for r in with_markup if wrong(r)]
    assert len(with_markup) > 200
    assert len(misread) / len(with_markup) < 0.1


def test_the_corpus_holds_vendor_loads_for_the_rewrite_to_catch(page):
    # Or the test above would pass for a rewrite that does nothing.
    loads = sum(page.evaluate(COMPARE, [html, html, HELD])["loadsBefore"] for html in CORPUS)
    assert loads > 300


def test_a_rewrite_that_misses_a_tag_is_caught(page):
    html = '<p>x</p><img src="https://x.doubleclick.net/p.gif">'
    result = page.evaluate(COMPARE, [html, html, HELD])
    assert result["loadsAfter"] == ['<img src="https://x.doubleclick.net/p.gif">']
    touched = html.replace("<p>x</p>", "<p>y</p>")
    differences = page.evaluate(COMPARE, [html, touched, HELD])["differences"]
    assert differences == ['/HTML/BODY/P/#text: text "x"']
