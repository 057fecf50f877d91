from __future__ import annotations

from django.conf import settings
from django.db import models


class TwitterAccount(models.Model):
    """One row per Twitter account: whose it is and its access token, in plain text."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    twitter_user_id = models.CharField(max_length=32, unique=True)
    screen_name = models.CharField(max_length=50)
    token = models.CharField(max_length=200)
    secret = models.CharField(max_length=200)

    objects: models.Manager[TwitterAccount] = models.Manager()
