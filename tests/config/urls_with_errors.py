"""The platform's URLs plus two views that fail, for the error page tests."""

from config.urls import *  # noqa: F403 - the real URLs and error handlers
from config.urls import urlpatterns as platform_urlpatterns
from tests.config.test_errors import urlpatterns as failing

urlpatterns = [*failing, *platform_urlpatterns]
