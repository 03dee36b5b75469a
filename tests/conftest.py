import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.core.management import call_command

from consent import bundles
from consent.models import Site


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    bundles.forget_local()
    yield
    cache.clear()
    bundles.forget_local()


@pytest.fixture
def site(db) -> Site:
    """The demo site: three categories, five vendors, eleven cookies, four languages."""
    call_command("seed_demo", "--no-users", "--origin", "https://shop.example", verbosity=0)
    return Site.objects.get(key="demo")


@pytest.fixture
def marketing_user(db) -> User:
    user = User.objects.create_user("marketing", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketing ops"))
    return user


@pytest.fixture
def marketing_client(client, marketing_user):
    client.force_login(marketing_user)
    return client
