"""The banner's built-in words in the languages shipped by default.

Marketing ops override any of them per site and language with a BannerText in the admin.
Category texts quote the categories' definitions from the source privacy notices.
A blocked embed's placeholder says "loadOnce" and "allowAlways", where "%s" is the
category's name.
"""

DEFAULT_TEXTS: dict[str, dict] = {
    "en": {
        "title": "Cookie preferences",
        "body": "We use cookies to run this site, to remember your choices and, if you "
        "agree, for advertising. Choose which you allow. You can change this at any time "
        "under Cookie Preferences.",
        "acceptAll": "Accept all",
        "rejectAll": "Reject all",
        "customise": "Customise",
        "save": "Save choices",
        "preferences": "Cookie Preferences",
        "close": "Close",
        "alwaysOn": "Always on",
        "honoured": "Opt-out request honoured",
        "vendors": "Vendors",
        "cookies": "Cookies",
        "session": "Session",
        "day": "day",
        "days": "days",
        "privacy": "Privacy policy",
        "reload": "Reload the page to stop what already ran.",
        "loadOnce": "Load this once",
        "allowAlways": "Always allow %s",
        "categories": {
            "required": {
                "name": "Required",
                "description": "Essential for the website to function (e.g., secure log-in or "
                "remembering where you are at in the order process). You cannot opt-out of "
                "required cookies.",
            },
            "functional": {
                "name": "Functional",
                "description": "Used to remember your choices (e.g., language or region) and "
                "analyze site usage to improve customer experience and site performance. You "
                "can opt-out of functional cookies, however some site features may not work "
                "properly.",
            },
            "advertising": {
                "name": "Advertising",
                "description": "Used to show you content and ads that are relevant to your "
                "interests. You can opt-out of advertising cookies at any time.",
            },
        },
    },
    "de": {
        "title": "Cookie-Einstellungen",
        "body": "Wir verwenden Cookies, um diese Website zu betreiben, Ihre Auswahl zu "
        "speichern und, wenn Sie zustimmen, für Werbung. Wählen Sie, was Sie erlauben. Sie "
        "können das jederzeit unter Cookie-Einstellungen ändern.",
        "acceptAll": "Alle akzeptieren",
        "rejectAll": "Alle ablehnen",
        "customise": "Anpassen",
        "save": "Auswahl speichern",
        "preferences": "Cookie-Einstellungen",
        "close": "Schließen",
        "alwaysOn": "Immer aktiv",
        "honoured": "Opt-out-Anfrage berücksichtigt",
        "vendors": "Anbieter",
        "cookies": "Cookies",
        "session": "Sitzung",
        "day": "Tag",
        "days": "Tage",
        "privacy": "Datenschutzerklärung",
        "reload": "Laden Sie die Seite neu, um bereits Ausgeführtes zu beenden.",
        "loadOnce": "Einmal laden",
        "allowAlways": "%s immer erlauben",
        "categories": {
            "required": {
                "name": "Erforderlich",
                "description": "Für den Betrieb der Website unerlässlich (z. B. sichere "
                "Anmeldung oder der Stand Ihrer Bestellung). Erforderliche Cookies können "
                "nicht abgelehnt werden.",
            },
            "functional": {
                "name": "Funktional",
                "description": "Speichern Ihre Auswahl (z. B. Sprache oder Region) und "
                "analysieren die Nutzung, um die Website zu verbessern. Sie können sie "
                "ablehnen, manche Funktionen arbeiten dann eventuell nicht richtig.",
            },
            "advertising": {
                "name": "Werbung",
                "description": "Zeigen Ihnen Inhalte und Anzeigen, die Sie interessieren. "
                "Sie können Werbe-Cookies jederzeit ablehnen.",
            },
        },
    },
    "fr": {
        "title": "Préférences en matière de cookies",
        "body": "Nous utilisons des cookies pour faire fonctionner ce site, mémoriser vos "
        "choix et, si vous l'acceptez, pour la publicité. Choisissez ce que vous autorisez. "
        "Vous pouvez changer d'avis à tout moment dans Préférences cookies.",
        "acceptAll": "Tout accepter",
        "rejectAll": "Tout refuser",
        "customise": "Personnaliser",
        "save": "Enregistrer",
        "preferences": "Préférences cookies",
        "close": "Fermer",
        "alwaysOn": "Toujours actif",
        "honoured": "Demande d'opposition respectée",
        "vendors": "Fournisseurs",
        "cookies": "Cookies",
        "session": "Session",
        "day": "jour",
        "days": "jours",
        "privacy": "Politique de confidentialité",
        "reload": "Rechargez la page pour arrêter ce qui a déjà été exécuté.",
        "loadOnce": "Charger cette fois",
        "allowAlways": "Toujours autoriser\u00a0: %s",
        "categories": {
            "required": {
                "name": "Nécessaires",
                "description": "Indispensables au fonctionnement du site (connexion "
                "sécurisée, suivi de votre commande). Ils ne peuvent pas être refusés.",
            },
            "functional": {
                "name": "Fonctionnels",
                "description": "Mémorisent vos choix (langue, région) et mesurent "
                "l'utilisation du site pour l'améliorer. Vous pouvez les refuser, certaines "
                "fonctions risquent alors de ne pas marcher.",
            },
            "advertising": {
                "name": "Publicité",
                "description": "Affichent des contenus et annonces adaptés à vos intérêts. "
                "Vous pouvez les refuser à tout moment.",
            },
        },
    },
    "es": {
        "title": "Preferencias de cookies",
        "body": "Usamos cookies para que este sitio funcione, recordar sus elecciones y, si "
        "lo acepta, para publicidad. Elija qué permite. Puede cambiarlo en cualquier "
        "momento en Preferencias de cookies.",
        "acceptAll": "Aceptar todas",
        "rejectAll": "Rechazar todas",
        "customise": "Personalizar",
        "save": "Guardar",
        "preferences": "Preferencias de cookies",
        "close": "Cerrar",
        "alwaysOn": "Siempre activas",
        "honoured": "Solicitud de exclusión respetada",
        "vendors": "Proveedores",
        "cookies": "Cookies",
        "session": "Sesión",
        "day": "día",
        "days": "días",
        "privacy": "Política de privacidad",
        "reload": "Recargue la página para detener lo que ya se ejecutó.",
        "loadOnce": "Cargar solo esta vez",
        "allowAlways": "Permitir siempre: %s",
        "categories": {
            "required": {
                "name": "Necesarias",
                "description": "Imprescindibles para que el sitio funcione (inicio de sesión "
                "seguro, el estado de su pedido). No se pueden rechazar.",
            },
            "functional": {
                "name": "Funcionales",
                "description": "Recuerdan sus elecciones (idioma, región) y analizan el uso "
                "para mejorar el sitio. Puede rechazarlas, aunque algunas funciones podrían "
                "no ir bien.",
            },
            "advertising": {
                "name": "Publicidad",
                "description": "Muestran contenidos y anuncios relevantes para usted. Puede "
                "rechazarlas en cualquier momento.",
            },
        },
    },
}

# The words only the opt-out and notice-only models' banner says (consent.bundles,
# variant_config): its notice, the "Your Privacy Choices" link, and the opt-out status in
# the wording of the CCPA regulations, §7025(c)(6).
_OPT_OUT = {
    "en": {
        "noticeTitle": "Your privacy",
        "noticeBody": "We use cookies to run this site, to measure its use and for "
        "advertising. You can opt out of the sale or sharing of your personal information "
        "and of targeted advertising at any time under Your Privacy Choices.",
        "ok": "OK",
        "optOut": "Opt out",
        "choices": "Your Privacy Choices",
        "honoured": "Opt-Out Request Honored",
    },
    "de": {
        "noticeTitle": "Ihre Privatsphäre",
        "noticeBody": "Wir verwenden Cookies, um diese Website zu betreiben, ihre Nutzung zu "
        "messen und für Werbung. Sie können dem Verkauf oder der Weitergabe Ihrer Daten und "
        "gezielter Werbung jederzeit unter „Ihre Datenschutzoptionen“ widersprechen.",
        "ok": "OK",
        "optOut": "Widersprechen",
        "choices": "Ihre Datenschutzoptionen",
    },
    "fr": {
        "noticeTitle": "Votre vie privée",
        "noticeBody": "Nous utilisons des cookies pour faire fonctionner ce site, mesurer "
        "son utilisation et pour la publicité. Vous pouvez vous opposer à tout moment à la "
        "vente ou au partage de vos données et à la publicité ciblée sous « Vos choix de "
        "confidentialité ».",
        "ok": "OK",
        "optOut": "M'opposer",
        "choices": "Vos choix de confidentialité",
    },
    "es": {
        "noticeTitle": "Su privacidad",
        "noticeBody": "Usamos cookies para que este sitio funcione, medir su uso y para "
        "publicidad. Puede oponerse en cualquier momento a la venta o el intercambio de sus "
        "datos y a la publicidad dirigida en Sus opciones de privacidad.",
        "ok": "Aceptar",
        "optOut": "Oponerme",
        "choices": "Sus opciones de privacidad",
    },
}
_NOTICE_BODY = {
    "en": "We use cookies to run this site, to remember your choices and to improve it. "
    "You can change which you allow at any time under Cookie Preferences.",
    "de": "Wir verwenden Cookies, um diese Website zu betreiben, Ihre Auswahl zu speichern "
    "und sie zu verbessern. Unter Cookie-Einstellungen können Sie das jederzeit ändern.",
    "fr": "Nous utilisons des cookies pour faire fonctionner ce site, retenir vos choix et "
    "l'améliorer. Vous pouvez modifier cela à tout moment dans Préférences de cookies.",
    "es": "Usamos cookies para que este sitio funcione, recordar sus elecciones y "
    "mejorarlo. Puede cambiarlo en cualquier momento en Preferencias de cookies.",
}
NOTICE_TEXTS: dict[str, dict[str, dict[str, str]]] = {
    "opt_out": _OPT_OUT,
    "notice": {
        language: {
            "noticeTitle": words["noticeTitle"],
            "noticeBody": _NOTICE_BODY[language],
            "ok": words["ok"],
        }
        for language, words in _OPT_OUT.items()
    },
}


def notice_words(model: str, language: str) -> dict[str, str]:
    """The built-in words of ``model``'s notice in ``language`` (de-AT: de's), else English."""
    words = NOTICE_TEXTS[model]
    return words.get(language.split("-")[0].lower(), words["en"])


# BannerText field -> (key in the notice's words, the models whose banner says it): the
# notice-only and opt-out models' words, which a site may word its own way per language.
NOTICE_TEXT_FIELDS: dict[str, tuple[str, frozenset[str]]] = {
    "notice_title": ("noticeTitle", frozenset({"notice", "opt_out"})),
    "notice_body": ("noticeBody", frozenset({"notice"})),
    "opt_out_body": ("noticeBody", frozenset({"opt_out"})),
    "ok": ("ok", frozenset({"notice", "opt_out"})),
    "opt_out": ("optOut", frozenset({"opt_out"})),
    "privacy_choices": ("choices", frozenset({"opt_out"})),
}

# BannerText field -> key in the banner's texts.
BANNER_TEXT_FIELDS = {
    "title": "title",
    "body": "body",
    "accept_all": "acceptAll",
    "reject_all": "rejectAll",
    "customise": "customise",
    "save_choices": "save",
    "preferences": "preferences",
}
