"""Well-known cookies, so a scan report can offer a pre-filled definition in one click.

This is a starting point for marketing ops, not a verdict: the category a site gives a
cookie is its own decision, made in its CookieDefinitions. Lifetimes are the vendors'
documented defaults in days (None: a session cookie).
"""

import fnmatch
from dataclasses import dataclass

from .models import REQUIRED

FUNCTIONAL = "functional"
ADVERTISING = "advertising"


@dataclass(frozen=True)
class KnownCookie:
    name: str  # exact, or a pattern with *
    vendor: str
    category: str
    lifetime_days: int | None
    purpose: str


CATALOGUE: tuple[KnownCookie, ...] = (
    # Google Analytics / Tag Manager
    KnownCookie(
        "_ga", "Google Analytics", FUNCTIONAL, 730, "Distinguishes visitors for usage statistics."
    ),
    KnownCookie(
        "_ga_*", "Google Analytics", FUNCTIONAL, 730, "Keeps the state of an analytics session."
    ),
    KnownCookie("_gid", "Google Analytics", FUNCTIONAL, 1, "Distinguishes visitors for one day."),
    KnownCookie(
        "_gat", "Google Analytics", FUNCTIONAL, 1, "Throttles the rate of analytics requests."
    ),
    KnownCookie(
        "_gat_*", "Google Analytics", FUNCTIONAL, 1, "Throttles the rate of analytics requests."
    ),
    KnownCookie(
        "__utma", "Google Analytics", FUNCTIONAL, 730, "Distinguishes visitors (classic analytics)."
    ),
    KnownCookie(
        "__utmb", "Google Analytics", FUNCTIONAL, None, "Marks a new session (classic analytics)."
    ),
    KnownCookie(
        "__utmz", "Google Analytics", FUNCTIONAL, 182, "Remembers how the visitor reached the site."
    ),
    # Google Ads / DoubleClick
    KnownCookie("_gcl_au", "Google Ads", ADVERTISING, 90, "Measures ad conversions."),
    KnownCookie(
        "_gcl_aw", "Google Ads", ADVERTISING, 90, "Stores the ad click that brought the visitor."
    ),
    KnownCookie(
        "_gcl_dc", "Google Ads", ADVERTISING, 90, "Stores the ad click that brought the visitor."
    ),
    KnownCookie("IDE", "Google Ads", ADVERTISING, 390, "Shows ads relevant to your interests."),
    KnownCookie(
        "DSID", "Google Ads", ADVERTISING, 14, "Links ad activity to a signed-in Google account."
    ),
    KnownCookie(
        "test_cookie", "Google Ads", ADVERTISING, 1, "Checks whether the browser accepts cookies."
    ),
    KnownCookie(
        "NID", "Google", ADVERTISING, 182, "Remembers preferences and personalises Google ads."
    ),
    KnownCookie("__gads", "Google AdSense", ADVERTISING, 390, "Shows and measures ads."),
    KnownCookie("__gpi", "Google AdSense", ADVERTISING, 390, "Shows and measures ads."),
    # Meta
    KnownCookie(
        "_fbp",
        "Meta Pixel",
        ADVERTISING,
        90,
        "Identifies the browser for ad delivery and measurement.",
    ),
    KnownCookie("_fbc", "Meta Pixel", ADVERTISING, 90, "Stores the last ad click from Facebook."),
    KnownCookie(
        "fr", "Meta Pixel", ADVERTISING, 90, "Delivers and measures ads on Meta's services."
    ),
    # Microsoft
    KnownCookie(
        "_uetsid", "Microsoft Advertising", ADVERTISING, 1, "Measures ad conversions for one day."
    ),
    KnownCookie(
        "_uetvid",
        "Microsoft Advertising",
        ADVERTISING,
        390,
        "Measures ad conversions across visits.",
    ),
    KnownCookie(
        "MUID",
        "Microsoft Advertising",
        ADVERTISING,
        390,
        "Identifies the browser across Microsoft sites.",
    ),
    KnownCookie(
        "_clck",
        "Microsoft Clarity",
        FUNCTIONAL,
        365,
        "Distinguishes visitors for session recordings.",
    ),
    KnownCookie(
        "_clsk", "Microsoft Clarity", FUNCTIONAL, 1, "Joins page views into one recorded session."
    ),
    # LinkedIn, TikTok, X, Pinterest, Snap
    KnownCookie(
        "bcookie", "LinkedIn", ADVERTISING, 365, "Identifies the browser for LinkedIn's ads."
    ),
    KnownCookie(
        "li_gc", "LinkedIn", FUNCTIONAL, 180, "Stores the visitor's cookie choices for LinkedIn."
    ),
    KnownCookie(
        "lidc", "LinkedIn", ADVERTISING, 1, "Routes requests within LinkedIn's data centres."
    ),
    KnownCookie(
        "li_sugr", "LinkedIn", ADVERTISING, 90, "Matches the browser to LinkedIn members for ads."
    ),
    KnownCookie("UserMatchHistory", "LinkedIn", ADVERTISING, 30, "Syncs LinkedIn ad identifiers."),
    KnownCookie("_ttp", "TikTok", ADVERTISING, 390, "Measures and improves TikTok ads."),
    KnownCookie(
        "_tt_enable_cookie",
        "TikTok",
        ADVERTISING,
        390,
        "Checks whether TikTok's pixel may set cookies.",
    ),
    KnownCookie("personalization_id", "X (Twitter)", ADVERTISING, 400, "Personalises ads on X."),
    KnownCookie(
        "_pin_unauth", "Pinterest", ADVERTISING, 365, "Groups actions of visitors not signed in."
    ),
    KnownCookie(
        "_pinterest_ct_ua", "Pinterest", ADVERTISING, 365, "Measures Pinterest ad conversions."
    ),
    KnownCookie("_scid", "Snap Pixel", ADVERTISING, 395, "Measures Snapchat ad conversions."),
    # Video
    KnownCookie(
        "VISITOR_INFO1_LIVE",
        "YouTube",
        FUNCTIONAL,
        180,
        "Estimates bandwidth for the video player.",
    ),
    KnownCookie("YSC", "YouTube", FUNCTIONAL, None, "Counts video views."),
    KnownCookie(
        "VISITOR_PRIVACY_METADATA",
        "YouTube",
        FUNCTIONAL,
        180,
        "Stores the visitor's consent state for YouTube.",
    ),
    KnownCookie("vuid", "Vimeo", FUNCTIONAL, 730, "Distinguishes viewers for Vimeo's statistics."),
    # Analytics and session replay
    KnownCookie(
        "_hjSessionUser_*",
        "Hotjar",
        FUNCTIONAL,
        365,
        "Distinguishes visitors for heatmaps and recordings.",
    ),
    KnownCookie("_hjSession_*", "Hotjar", FUNCTIONAL, None, "Holds the current Hotjar session."),
    KnownCookie(
        "ajs_anonymous_id", "Segment", FUNCTIONAL, 365, "Distinguishes anonymous visitors."
    ),
    KnownCookie(
        "mp_*_mixpanel",
        "Mixpanel",
        FUNCTIONAL,
        365,
        "Distinguishes visitors for product analytics.",
    ),
    KnownCookie(
        "amp_*", "Amplitude", FUNCTIONAL, 365, "Distinguishes visitors for product analytics."
    ),
    KnownCookie(
        "_pk_id.*", "Matomo", FUNCTIONAL, 393, "Distinguishes visitors for usage statistics."
    ),
    KnownCookie("_pk_ses.*", "Matomo", FUNCTIONAL, None, "Holds the current Matomo visit."),
    KnownCookie(
        "_hp2_id.*", "Heap", FUNCTIONAL, 395, "Distinguishes visitors for product analytics."
    ),
    # Marketing automation and chat
    KnownCookie(
        "hubspotutk", "HubSpot", ADVERTISING, 180, "Tracks the visitor for HubSpot's marketing."
    ),
    KnownCookie("__hstc", "HubSpot", ADVERTISING, 180, "Tracks visits for HubSpot's marketing."),
    KnownCookie("__hssc", "HubSpot", ADVERTISING, None, "Counts page views in a HubSpot session."),
    KnownCookie(
        "intercom-id-*", "Intercom", FUNCTIONAL, 270, "Keeps the support chat's visitor id."
    ),
    KnownCookie(
        "intercom-session-*", "Intercom", FUNCTIONAL, 7, "Keeps the support chat's conversation."
    ),
    # Infrastructure: needed for the site to work
    KnownCookie("__cf_bm", "Cloudflare", REQUIRED, 1, "Tells bots from people (bot management)."),
    KnownCookie(
        "cf_clearance", "Cloudflare", REQUIRED, 365, "Remembers a passed security challenge."
    ),
    KnownCookie(
        "AWSALB",
        "Amazon Web Services",
        REQUIRED,
        7,
        "Keeps the visitor on one server (load balancing).",
    ),
    KnownCookie(
        "AWSALBCORS",
        "Amazon Web Services",
        REQUIRED,
        7,
        "Load balancing for cross-origin requests.",
    ),
    KnownCookie("__stripe_mid", "Stripe", REQUIRED, 365, "Prevents payment fraud."),
    KnownCookie("__stripe_sid", "Stripe", REQUIRED, 1, "Prevents payment fraud."),
    KnownCookie("sessionid", "This site", REQUIRED, None, "Keeps the visitor signed in."),
    KnownCookie(
        "csrftoken",
        "This site",
        REQUIRED,
        365,
        "Protects forms against cross-site request forgery.",
    ),
    KnownCookie("JSESSIONID", "This site", REQUIRED, None, "Keeps the visitor's server session."),
    KnownCookie("PHPSESSID", "This site", REQUIRED, None, "Keeps the visitor's server session."),
)


def lookup(name: str) -> KnownCookie | None:
    """The catalogue entry for a cookie name: exact names win over patterns."""
    pattern_match = None
    for known in CATALOGUE:
        if known.name == name:
            return known
        if pattern_match is None and "*" in known.name and fnmatch.fnmatchcase(name, known.name):
            pattern_match = known
    return pattern_match
