"""Auto-blocking on the server: vendor tags in a page rewritten to the gated form before it
leaves, so that nothing depends on the banner's script winning a race. (Chromium's
preload scanner requests a page's external scripts and images before any script on the
page has run; a tag that arrives gated is never requested.)

``gate_tags(body, hosts_by_category, allowed)`` rewrites every ``<script>``, ``<iframe>``
and ``<img>`` whose ``src`` loads from a vendor host of a category that is not allowed,
in the form the banner activates once the category is allowed (banner_static/src/tags.js):

- ``<script type=text/plain data-consent=CATEGORY ...>``, its own ``type`` kept as
  ``data-consent-type``;
- ``<iframe data-consent=CATEGORY data-consent-src="...">`` (and ``<img>``; an img's
  ``srcset`` becomes ``data-consent-srcset``, which the banner does not restore).

A host belongs to a vendor when it is one of the vendor's hosts or a subdomain of one
(``*.x`` and ``x:port`` hold back ``x`` and its subdomains, on any port). A tag that carries
``data-consent`` is gated by the site itself and left as it is.

It reads no more of the page than it must, and builds no tree. It looks for the places
where a URL names a held host (``//host``, in any case), reads the tags around them
exactly as HTML's tokenizer does (attribute values in any quoting, a quote starting a
value only after ``=``, the first of duplicate attributes counting, tag names in any case,
``<image>`` read as ``<img>``), and settles whether such a tag is markup at all from the
few things that change how HTML is read: comments, and the elements whose text is not
markup (``<script>``, its escape states included, ``<style>``, ``<textarea>``, ``<title>``,
``<iframe>``, ...), whose contents are never touched. ``<noscript>`` content is
rewritten too: a browser without scripts parses it, and cannot consent.

What it does not read as a browser would, the banner and the Content-Security-Policy
still hold back: a URL written to hide its host (character references or
percent-encoding in the host, backslashes for slashes); a tag inside a quoted attribute
value that itself spans other tags; and, inside ``<svg>`` or ``<math>``, elements read as
HTML reads them (an SVG ``<style>``'s text is markup to a browser). A URL's host is read as
browsers read it (banner_static/test/url-host-cases.json holds the cases both sides are
tested on).

The body is assumed to be in an ASCII-compatible encoding (UTF-8, Latin-1, ...):
``gate_response`` leaves other responses, streaming and compressed ones alone.
"""

import contextlib
import html
import re
from collections.abc import Collection, Iterable, Mapping
from functools import lru_cache
from urllib.parse import unquote

from django.http import HttpResponseBase

# A tag's attributes up to its ">", as the tokenizer splits them: a name may start with "="
# and hold quotes; a quote starts a value only after "=".
_ATTRIBUTES = (
    rb"(?:[\t\n\f\r /]++|[^\t\n\f\r />][^\t\n\f\r />=]*+"
    rb"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"[^\"]*+\"|'[^']*+'|[^\t\n\f\r >]*+))?+)*+"
)
_NAME_END = rb"(?=[\t\n\f\r />])"
_START_TAG = re.compile(rb"<([a-zA-Z][^\t\n\f\r />]*+)(" + _ATTRIBUTES + rb")>")
_END_TAG = re.compile(rb"</[a-zA-Z][^\t\n\f\r />]*+" + _ATTRIBUTES + rb">")
# Where a URL names its host (no letters: read in the body as it is), and, read in the
# lower-cased body, what changes how the markup after it is read (a comment, an element
# whose text is not markup).
_AUTHORITY = re.compile(rb"//([^/\\?#\s\"'<>]*)")
_STATE_CHANGE = re.compile(
    rb"<(?:!--|(s(?:cript|tyle)|t(?:extarea|itle)|xmp|iframe|no(?:embed|frames)|plaintext)"
    + _NAME_END
    + rb")"
)
_COMMENT_END = re.compile(rb"<!--(?:-?>|.*?--!?>)", re.S)
_ATTRIBUTE = re.compile(
    rb"([^\t\n\f\r />][^\t\n\f\r />=]*+)"
    rb"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(\"[^\"]*+\"|'[^']*+'|[^\t\n\f\r >]*+))?+"
)
# Inside a <script>: what moves its tokenizer between the script data states.
_SCRIPT_TOKEN = re.compile(rb"<!--|-->|<(/?)script" + _NAME_END)
_SCRIPT_END = re.compile(rb"</script" + _NAME_END)
_RAW_TEXT_END = {
    name: re.compile(rb"</" + name + _NAME_END)
    for name in (b"iframe", b"style", b"textarea", b"title", b"xmp", b"noembed", b"noframes")
}
_GATED = (b"script", b"iframe", b"img", b"image")
_UNQUOTED = re.compile(r"[A-Za-z0-9_.-]+")
# The attributes whose values decide whether and how a tag is gated.
_READ = frozenset({b"src", b"srcset", b"type", b"language", b"data-consent"})
# How many "<" back the tag around a position is looked for (an attribute value may hold
# a "<"). Looking further back only finds "tags" inside attribute values.
_LOOK_BACK = 4
# The types a browser runs (HTML, "prepare the script element"; MIME Sniffing,
# "JavaScript MIME type"); any other type is a data block, which never loads.
_JAVASCRIPT_TYPES = frozenset(
    f"{kind}/{name}"
    for kind in ("application", "text")
    for name in ("ecmascript", "javascript", "x-ecmascript", "x-javascript")
) | frozenset(
    {"text/jscript", "text/livescript", "module"} | {f"text/javascript1.{n}" for n in range(6)}
)
# Schemes whose URLs name a host a page can load from (the URL Standard's special schemes
# but file:).
_HOST_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp"})
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
_AUTHORITY_END = re.compile(r"[/\\?#]")


def gate_tags(
    body: bytes, hosts_by_category: Mapping[str, Iterable[str]], allowed: Collection[str]
) -> bytes:
    """``body`` with every vendor tag of a category not in ``allowed`` in the gated form;
    ``body`` itself when there is nothing to change. ``allowed`` must name the required
    category too (its vendors are never held back)."""
    held = _held_hosts(
        tuple(
            (category, tuple(hosts))
            for category, hosts in hosts_by_category.items()
            if category not in allowed
        )
    )
    if not held:
        return body
    # Where a URL names a held host; each authority's verdict worked out once.
    hits = []
    verdicts: dict[bytes, bool] = {}
    for url in _AUTHORITY.finditer(body):
        authority = url.group(1)
        verdict = verdicts.get(authority)
        if verdict is None:
            verdict = verdicts[authority] = _category(_authority_host(authority), held) is not None
        if verdict:
            hits.append(url.start())
    if not hits:
        return body
    lower = body.lower()
    return _Rewriter(body, lower, held).rewrite(hits)


def gate_response(
    response: HttpResponseBase,
    hosts_by_category: Mapping[str, Iterable[str]],
    allowed: Collection[str],
) -> bool:
    """Gates the vendor tags of an HTML response in place; True if its body changed.
    Streaming responses, compressed ones and bodies in an encoding that is not
    ASCII-compatible (UTF-16, UTF-32) are left as they are."""
    if (
        response.streaming
        or response.has_header("Content-Encoding")
        or not response.get("Content-Type", "").startswith("text/html")
        or response.charset.lower().replace("_", "-").startswith(("utf-16", "utf-32"))
    ):
        return False
    body = response.content  # type: ignore[attr-defined]
    gated = gate_tags(body, hosts_by_category, allowed)
    if gated is body:
        return False
    response.content = gated  # type: ignore[attr-defined]
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(gated))
    # A validator computed for the body as it was does not describe this one.
    if response.has_header("ETag"):
        del response["ETag"]
    return True


def url_host(url: str) -> str:
    """The host a URL in a page loads from, as browsers read it (the URL Standard), or ""
    for a relative URL (the page's own host) and for URLs that load from no host. One
    case is read more strictly than a browser would, since the page's scheme is unknown
    here: ``https:host/x``, which a page of the same scheme reads as a relative path."""
    url = url.strip(_C0_AND_SPACE).replace("\t", "").replace("\n", "").replace("\r", "")
    scheme = _SCHEME.match(url)
    if scheme:
        if scheme.group(1).lower() not in _HOST_SCHEMES:
            return ""
        rest = url[scheme.end() :]
    elif url[:2] in ("//", "\\\\", "/\\", "\\/"):
        rest = url
    else:
        return ""
    authority = _AUTHORITY_END.split(rest.lstrip("/\\"), maxsplit=1)[0]
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        return host[: host.find("]") + 1].lower()
    host = unquote(host.partition(":")[0])
    if not host.isascii():
        # Not a valid international name: no browser loads from it, and it is no vendor's.
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    return host.lower().rstrip(".")


@lru_cache(maxsize=256)
def _held_hosts(held: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, bytes]:
    """Vendor host (no wildcard, no port, lower case) -> the category holding it back, as
    the attribute value to write."""
    table: dict[str, bytes] = {}
    for category, hosts in held:
        # Unquoted when it can be (a slug always can): then a tag taken for markup that a
        # browser reads as inside a quoted attribute value keeps its quotes balanced.
        if _UNQUOTED.fullmatch(category):
            value = category.encode()
        else:
            value = b'"' + html.escape(category, quote=True).encode() + b'"'
        for host in hosts:
            name = host.lower().removeprefix("*.").partition(":")[0].rstrip(".")
            if name:
                table.setdefault(name, value)
    return table


@lru_cache(maxsize=4096)
def _authority_host(authority: bytes) -> str:
    """The host of a URL's authority ("user@host:port", lower case)."""
    return url_host("//" + authority.decode("utf-8", "replace"))


def _category(host: str, held: Mapping[str, bytes]) -> bytes | None:
    """The category holding back loads from ``host`` (a vendor host or a subdomain of one)."""
    while host:
        if host in held:
            return held[host]
        host = host.partition(".")[2]
    return None


class _Rewriter:
    """One body: where its held hosts are named, the tags naming them, and whether those
    are markup at all."""

    def __init__(self, body: bytes, lower: bytes, held: dict[str, bytes]) -> None:
        self.body = body
        self.lower = lower
        self.held = held
        # The gated body in pieces, unchanged runs as views of the body (copied once, by
        # the join).
        self.out: list[bytes | memoryview] = []
        self.view = memoryview(body)
        self.copied = 0  # body[:copied] is in out

    def rewrite(self, hits: list[int]) -> bytes:
        tags = {}
        for hit in hits:
            tag = self._tag_around(hit)
            if tag is not None and tag.re is _START_TAG:
                name = tag.group(1).lower()
                if name in _GATED:
                    tags[tag.start()] = (tag, name)
        if not tags:
            return self.body
        order = sorted(tags)
        # Walks what changes how the markup is read (comments, the text of <script>,
        # <style>, ...) up to each tag, each checked for being markup itself when that
        # matters: when what it would hide holds another change or a tag.
        changes = _STATE_CHANGE.finditer(self.lower, 0, order[-1])
        change = next(changes, None)
        markup_from = 0  # what follows is not in a comment or in raw text
        for at in order:
            while change is not None and change.start() < at:
                start, name = change.start(), change.group(1)
                change = next(changes, None)
                if start < markup_from:
                    continue
                end = self._region_end(start, name)
                hides = end > at or (change is not None and change.start() < end)
                if hides and self._in_a_tag(start):
                    continue  # a "<!--" or "<script" in another tag's attribute value
                markup_from = end
                if markup_from > at:
                    break
            if at >= markup_from and not self._in_a_tag(at):
                self._gate(*tags[at])
        if not self.out:
            return self.body
        self.out.append(self.view[self.copied :])
        return b"".join(self.out)

    def _region_end(self, start: int, name: bytes | None) -> int:
        """Where the comment or the raw text begun at ``start`` ends."""
        body, lower = self.body, self.lower
        if name is None:
            comment = _COMMENT_END.match(body, start)
            return comment.end() if comment else len(body)
        # The start tag's end: its first ">" unless a quoted value may hold one.
        close = lower.find(b">", start)
        if close < 0:
            return len(body)  # a tag that never ends: the rest of the body is in it
        if b'"' in lower[start:close] or b"'" in lower[start:close]:
            tag = _START_TAG.match(body, start)
            if tag is None:
                return len(body)
            close = tag.end() - 1
        if name == b"script":
            return self._script_end(close + 1)
        if name == b"plaintext":
            return len(body)
        end = _RAW_TEXT_END[name].search(lower, close + 1)
        return end.start() if end else len(body)

    def _tag_around(self, at: int) -> re.Match[bytes] | None:
        """The start or end tag whose attributes hold position ``at``, if any: looked
        for among the last few tags before it, since an attribute value may hold a "<"."""
        body, lower = self.body, self.lower
        start = at
        for _ in range(_LOOK_BACK):
            start = lower.rfind(b"<", 0, start)
            if start < 0:
                return None
            tag = _START_TAG.match(body, start) or _END_TAG.match(body, start)
            if tag is not None and tag.end() > at:
                return tag
        return None

    def _in_a_tag(self, at: int) -> bool:
        """Whether the "<" at ``at`` is in the attributes of a tag before it."""
        return self._tag_around(at) is not None

    def _script_end(self, pos: int) -> int:
        """Where a <script>'s text ends, through the tokenizer's script data, escaped and
        double-escaped states: ``</script>`` inside ``<!-- <script> ... -->`` does not
        end it."""
        lower = self.lower
        close = _SCRIPT_END.search(lower, pos)
        end = close.start() if close else len(lower)
        if lower.find(b"<!--", pos, end) < 0:
            return end  # no escape: the first </script> ends it
        state = "data"
        for token in _SCRIPT_TOKEN.finditer(self.lower, pos):
            text = token.group(0)
            if text == b"<!--":
                if state == "data":
                    state = "escaped"
                    # "<!-->" and "<!--->" leave the escape as soon as they enter it.
                    after = self.lower[token.end() : token.end() + 2]
                    if after[:1] == b">" or after == b"->":
                        state = "data"
            elif text == b"-->":
                state = "data"
            elif token.group(1):  # </script
                if state == "double":
                    state = "escaped"
                else:
                    return token.start()
            elif state == "escaped":  # <script
                state = "double"
        return len(self.body)

    def _gate(self, tag: re.Match[bytes], name: bytes) -> None:
        """Writes ``tag`` in the gated form if it loads from a held host. Its attributes
        are read in the lower-cased body: their names and a URL's host are the same in
        any case, and a type is compared in lower case."""
        attributes: dict[bytes, str] = {}  # the first of each name counts
        names: list[tuple[bytes, int, int]] = []  # (name, start, end) of those that matter
        for attribute in _ATTRIBUTE.finditer(self.lower, tag.start(2), tag.end(2)):
            key = attribute.group(1)
            if key not in _READ:
                continue
            names.append((key, attribute.start(1), attribute.end(1)))
            if key not in attributes:
                raw = attribute.group(2) or b""
                if raw[:1] in (b'"', b"'"):
                    raw = raw[1:-1]
                value = raw.decode("utf-8", "replace")
                attributes[key] = html.unescape(value) if "&" in value else value
        if b"data-consent" in attributes:
            return  # the site's own gating
        script = name == b"script"
        if script and not _runs(attributes):
            return
        urls = [attributes.get(b"src")]
        if not script:
            urls += _srcset_urls(attributes.get(b"srcset"))
        category = next((c for url in urls if (c := self._held(url))), None)
        if category is None:
            return
        if script:
            inserted = b" type=text/plain data-consent=" + category
            # The type that counts is the first; kept for when the script runs.
            first_type = next((n for n in names if n[0] == b"type"), None)
            renames = [(first_type, b"data-consent-type")] if first_type else []
        else:
            inserted = b" data-consent=" + category
            # Every src and srcset: the browser would use the first, and must use none.
            moved = {b"src": b"data-consent-src", b"srcset": b"data-consent-srcset"}
            renames = [(n, moved[n[0]]) for n in names if n[0] in moved]
        body = self.body
        at = tag.start(1) + len(tag.group(1))
        if body[at : at + 1] not in (b" ", b"\t", b"\n", b"\f", b"\r"):
            inserted += b" "  # an unquoted value ends at a space, not at "/" or ">"
        self.out += [self.view[self.copied : at], inserted]
        for (_, start, end), new_name in renames:
            self.out += [self.view[at:start], new_name]
            at = end
        self.copied = at

    def _held(self, url: str | None) -> bytes | None:
        return _category(url_host(url), self.held) if url else None


def _runs(attributes: Mapping[bytes, str]) -> bool:
    """Whether a browser runs a <script> with these attributes (HTML, "prepare the
    script element"): no type or an empty one, a JavaScript type, or "module"."""
    kind = attributes.get(b"type")
    if kind is None:
        language = attributes.get(b"language")
        if not language:
            return True
        kind = "text/" + language
    elif kind == "":
        return True
    return kind.strip(" \t\n\f\r") in _JAVASCRIPT_TYPES


def _srcset_urls(srcset: str | None) -> list[str]:
    """The URLs of an img's srcset candidates ("url 2x, url 640w")."""
    if not srcset:
        return []
    return [part.split()[0] for part in srcset.split(",") if part.split()]
