"""The enforcement alone, as a Django site apart from the platform installs it.

A wheel is built from this repository and installed into a fresh virtualenv that holds
nothing but the wheel's own dependencies (Django, django-csp, publicsuffixlist, and
theirs), taken from this environment: ``pip install --no-index`` then succeeds only if
the wheel asks for nothing else. In it, tests.sites runs in remote mode from a kept rules
file (the platform unreachable) and must enforce, with not one of the platform's packages
importable. The same site in this environment, where all of them are installed, must not
import any of them either.
"""

import email.parser
import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from consent.rules import CookieRule
from consent.ruleset import SiteRuleSet
from tests.harness import ROOT, free_port
from tests.sites import stored_choice

# What only the platform needs: none of it may be imported (or installed) for enforcing.
PLATFORM_PACKAGES = [
    "rest_framework",
    "drf_spectacular",
    "celery",
    "kombu",
    "redis",
    "gunicorn",
    "playwright",
    "cryptography",
    "psycopg",
    "dj_database_url",
    "whitenoise",
    "axes",
    "consent.models",
    "consent.bundles",
    "consent.api",
    "consent.records",
]
ENFORCEMENT_DEPENDENCIES = {"django", "django-csp", "publicsuffixlist"}

SITE_SCRIPT = """
import json, sys
import django
django.setup()
from django.test import Client
import consent

client = Client(HTTP_HOST="localhost")
client.cookies["consent"] = sys.argv[1]
response = client.get("/t/shop/")
print(json.dumps({
    "status": response.status_code,
    "cookies": sorted(response.cookies),
    "page": response.content.decode(),
    "csp": response["Content-Security-Policy"],
    "consent_from": consent.__file__,
    "loaded": sorted(name for name in json.loads(sys.argv[2]) if name in sys.modules),
}))
"""


def kept_rules(path: Path) -> None:
    """A rules file as a site that once reached the platform keeps it."""
    ruleset = SiteRuleSet.of(
        "demo",
        1,
        "consent",
        ["required", "functional", "advertising"],
        [CookieRule("_ga", "functional"), CookieRule("_fbp", "advertising")],
        {"advertising": ["connect.facebook.net"]},
    )
    path.write_bytes(ruleset.document)


def run_site(python: str, cwd: Path, tmp_path: Path) -> dict:
    """tests.sites in remote mode, its platform unreachable, its rules from the file."""
    rules = tmp_path / "rules.json"
    kept_rules(rules)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CONSENT_"))},
        "DJANGO_SETTINGS_MODULE": "tests.sites.settings",
        "CONSENT_PLATFORM_URL": f"http://127.0.0.1:{free_port()}",
        "CONSENT_REMOTE_RULES_FILE": str(rules),
        "PYTHONPATH": "",
    }
    result = subprocess.run(
        [
            python,
            "-c",
            SITE_SCRIPT,
            stored_choice(functional=True, advertising=False),
            json.dumps(PLATFORM_PACKAGES),
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_it_enforces(answer: dict) -> None:
    assert answer["status"] == 200
    # Functional allowed (_ga), advertising refused (_fbp), the unknown ones (_gid, promo,
    # ...) blocked; Django's session and CSRF cookies are required by default.
    assert answer["cookies"] == ["_ga", "csrftoken", "sessionid"]
    assert "/c/demo.js" in answer["page"]
    script_src = next(d for d in answer["csp"].split("; ") if d.startswith("script-src"))
    assert "connect.facebook.net" not in script_src
    assert answer["loaded"] == []


def test_enforcing_imports_nothing_of_the_platform(tmp_path):
    answer = run_site(sys.executable, ROOT, tmp_path)
    assert_it_enforces(answer)
    assert answer["consent_from"] == str(ROOT / "consent" / "__init__.py")


def build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("config", "consent"):
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
            "-w",
            str(tmp_path / "wheels"),
            str(source),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "wheels").glob("consent_platform-*.whl")
    return wheel


def requirements_of(wheel: Path) -> list[Requirement]:
    """The wheel's dependencies outside any extra."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        fields = email.parser.Parser().parsestr(archive.read(name).decode())
    requirements = [Requirement(line) for line in fields.get_all("Requires-Dist")]
    return [r for r in requirements if r.marker is None or r.marker.evaluate({"extra": ""})]


def closure(requirements: list[Requirement]) -> set[str]:
    """The distributions installed here that satisfy ``requirements``, and theirs."""
    found: set[str] = set()
    todo = list(requirements)
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = metadata.distribution(requirement.name).metadata["Name"]
        if name.lower() in found:
            continue
        found.add(name.lower())
        todo += [Requirement(r) for r in metadata.requires(name) or ()]
    return found


def link_distributions(names: set[str], into: Path) -> None:
    """This environment's files of ``names``, linked into a directory of their own."""
    for name in names:
        distribution = metadata.distribution(name)
        for file in distribution.files or ():
            if str(file).startswith(".."):
                continue  # scripts installed outside site-packages
            target = into / file
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.symlink_to(distribution.locate_file(file))


def test_a_wheel_installs_and_enforces_with_django_and_django_csp_alone(tmp_path):
    wheel = build_wheel(tmp_path)
    requirements = requirements_of(wheel)
    assert {r.name.lower() for r in requirements} == ENFORCEMENT_DEPENDENCIES

    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = str(environment / "bin" / "python")
    site_packages = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    dependencies = closure(requirements)
    assert not dependencies & {"djangorestframework", "celery", "redis", "cryptography"}
    link_distributions(dependencies, tmp_path / "dependencies")
    (site_packages / "dependencies.pth").write_text(str(tmp_path / "dependencies") + "\n")

    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--no-index",
            "--quiet",
            "--disable-pip-version-check",
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    installed = subprocess.run(
        [python, "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = {d["name"].lower() for d in json.loads(installed.stdout)}
    assert names == dependencies | {"consent-platform", "pip"} | (names & {"setuptools"})

    # The site's own files, apart from this checkout: `consent` comes from the wheel.
    site = tmp_path / "site"
    shutil.copytree(
        ROOT / "tests" / "sites",
        site / "tests" / "sites",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (site / "tests" / "__init__.py").write_text("")
    answer = run_site(python, site, tmp_path)
    assert_it_enforces(answer)
    assert answer["consent_from"].startswith(str(site_packages))

    missing = subprocess.run([python, "-c", "import rest_framework"], capture_output=True)
    assert missing.returncode == 1
