"""The platform's own settings, with the reference views' URLs added."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "benchapp.urls"
