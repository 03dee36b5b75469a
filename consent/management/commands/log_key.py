"""Make the transparency log's signing key (Ed25519), once, and show its public half."""

import json
import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from consent.transparency import heads


class Command(BaseCommand):
    help = (
        "Create the log's Ed25519 signing key at CONSENT_LOG_KEY_FILE (mode 0600) unless a "
        "key is already configured; print the public key document."
    )

    def handle(self, *args, **options):
        path = Path(settings.CONSENT_LOG_KEY_FILE)
        if not os.environ.get("CONSENT_LOG_KEY") and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(heads.private_key_pem(heads.generate_private_key()))
            self.stderr.write(f"created the log's signing key: {path}")
        try:
            key = heads.load_private_key(path=path, env_var="CONSENT_LOG_KEY")
        except heads.SigningKeyError as exc:
            raise CommandError(str(exc)) from exc
        document = heads.key_document(key.public_key(), settings.CONSENT_LOG_ORIGIN)
        self.stdout.write(json.dumps(document, indent=2))
