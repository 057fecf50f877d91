"""The project's tests use the fake Twitter's pytest plugin as the app's users would."""

pytest_plugins = ["django_twitter_oauth.testing.pytest_plugin"]
