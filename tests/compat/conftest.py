import pytest

from tests.compat.docs import DocsClient


@pytest.fixture
def docs(full_token) -> DocsClient:
    """The docs' requests with a FullAccess token of `club` (infinity-mall, the docs' own club)."""
    return DocsClient(full_token)


@pytest.fixture
def docs_with(issue_token, club):
    """docs_with("Perm:A", bearer=None) -> a DocsClient holding exactly those permits on `club`."""

    def _client(*permits: str, bearer: str | None = None) -> DocsClient:
        return DocsClient(issue_token(permits=permits, clubs=[club]), bearer=bearer)

    return _client
