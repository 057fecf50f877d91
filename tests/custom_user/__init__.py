"""A custom user model unlike Django's: no ``username``, the email address as
``USERNAME_FIELD`` and a UUID primary key. tests/settings_custom_user.py runs the whole
suite with it, so the app is proven not to assume Django's default user model."""
