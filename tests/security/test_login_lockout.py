"""Issue 11, item 9: the admin login had no lockout.

Policy (django-axes, config/settings.py): LOGIN_FAILURE_LIMIT (5) wrong passwords in a
row for one username from one address lock that pair out for LOGIN_COOLOFF_MINUTES (15)
with a 429 page, whatever password follows; other users and other addresses are not
affected; a successful login clears the count. Driven through the admin's login form.
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db
LOGIN = reverse("admin:login")
PASSWORD = "correct horse battery staple"


@pytest.fixture
def staff(db) -> None:
    User.objects.create_user("ops", password=PASSWORD, is_staff=True)
    User.objects.create_user("colleague", password=PASSWORD, is_staff=True)


def log_in(client: Client, username: str, password: str, address: str = "127.0.0.1"):
    return client.post(
        f"{LOGIN}?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


def test_the_fifth_wrong_password_locks_the_user_out_of_that_address(staff):
    client = Client()

    statuses = [log_in(client, "ops", f"guess-{n}").status_code for n in range(25)]
    right = log_in(client, "ops", PASSWORD)

    assert statuses == [200] * 4 + [429] * 21
    assert right.status_code == 429
    assert "Too many failed logins" in right.content.decode()
    assert "_auth_user_id" not in client.session


def test_other_users_and_other_addresses_are_not_affected(staff):
    for n in range(5):
        log_in(Client(), "ops", f"guess-{n}")

    locked = log_in(Client(), "ops", PASSWORD)
    colleague = log_in(Client(), "colleague", PASSWORD)
    elsewhere = log_in(Client(), "ops", PASSWORD, address="198.51.100.7")

    assert locked.status_code == 429
    assert (colleague.status_code, colleague["Location"]) == (302, "/admin/")
    assert (elsewhere.status_code, elsewhere["Location"]) == (302, "/admin/")


@pytest.mark.parametrize(
    ("first", "then"),
    [("203.0.113.", "203.0.113.200"), ("2001:db8:1:2::", "2001:db8:1:2:ffff::1")],
)
def test_rotating_addresses_within_one_network_does_not_escape_the_lockout(staff, first, then):
    for n in range(5):
        log_in(Client(), "ops", f"guess-{n}", address=f"{first}{n + 10}")

    assert log_in(Client(), "ops", PASSWORD, address=then).status_code == 429


def minutes_pass(minutes: float) -> None:
    """As if the last attempt had been made ``minutes`` ago."""
    from axes.models import AccessAttempt

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=minutes))


def test_the_right_password_works_again_fifteen_minutes_after_the_last_attempt(staff):
    for n in range(5):
        log_in(Client(), "ops", f"guess-{n}")

    minutes_pass(14)
    assert log_in(Client(), "ops", PASSWORD).status_code == 429  # and the wait starts again
    minutes_pass(14)
    assert log_in(Client(), "ops", PASSWORD).status_code == 429
    minutes_pass(15.1)
    assert log_in(Client(), "ops", PASSWORD).status_code == 302


def test_a_successful_login_clears_the_count(staff):
    for n in range(4):
        assert log_in(Client(), "ops", f"guess-{n}").status_code == 200
    assert log_in(Client(), "ops", PASSWORD).status_code == 302

    statuses = [log_in(Client(), "ops", f"again-{n}").status_code for n in range(5)]

    # Counted from zero again: the fifth failure after the login locks, not the first.
    assert statuses == [200] * 4 + [429]
