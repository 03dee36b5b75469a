"""A visitor's decision, made in Chromium on the demo page, is proven to be in the log the
platform signed: tools/verify_receipt.py, run as a visitor or an auditor runs it (its own
process, nothing of ours imported), checks the live receipt against the published key."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from e2e.conftest import ROOT, own_platform

VERIFIER = ROOT / "tools" / "verify_receipt.py"


def verify(*sources: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run(
        [sys.executable, str(VERIFIER), *sources], capture_output=True, text=True, env=env
    )


def test_a_decision_made_in_the_browser_is_proven_in_the_signed_log(browser):
    with tempfile.TemporaryDirectory(prefix="consent-e2e-proof-") as scratch:
        database = f"sqlite:///{scratch}/consent.sqlite3"
        with own_platform(DATABASE_URL=database) as platform:
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{platform.url}/demo/")
            page.get_by_role("button", name="Accept all").click()
            consent_id = page.evaluate("Consent.get().id")
            context.close()
            receipt_url = f"{platform.url}/api/v1/consents/{consent_id}"
            key_url = f"{platform.url}/.well-known/consent-log/key"

            # Not sealed yet: no proof, and the verifier says so.
            unsealed = platform.wait_for_receipt(consent_id)
            assert unsealed["current"]["proof"] is None
            before = verify(receipt_url, key_url)
            assert before.returncode == 1, before.stdout + before.stderr
            assert "not in a signed head yet" in before.stdout

            # The sealer, as the embedded default runs it beside the server.
            env = {**os.environ, "DATABASE_URL": database, "VAR_DIR": scratch}
            sealed = subprocess.run(
                [sys.executable, str(ROOT / "manage.py"), "seal_audit"],
                env=env,
                capture_output=True,
                text=True,
            )
            assert sealed.returncode == 0, sealed.stderr

            receipt = platform.receipt(consent_id)
            record = receipt["current"]
            assert record["method"] == "accept_all"
            assert record["proof"]["head"]["tree_size"] > record["proof"]["leaf_index"]

            done = verify(receipt_url, key_url)
            assert done.returncode == 0, done.stdout + done.stderr
            assert f"OK   record {record['record_id']}: leaf " in done.stdout

            # A copy that shows another decision than the one logged fails.
            tampered = json.loads(json.dumps(receipt))
            tampered["history"][0]["categories"]["advertising"] = False
            forged = Path(scratch) / "tampered.json"
            forged.write_text(json.dumps(tampered))
            refused = verify(str(forged), key_url)
            assert refused.returncode == 1, refused.stdout + refused.stderr
            assert (
                f"FAIL record {record['record_id']}: the log holds other values for categories"
                in refused.stdout
            )
