"""GitHub (and GitHub Enterprise: move its URLs with GITHUB_*_URL)."""

from connections.providers.base import Listing, Paging, Profile, ProviderSpec

PAGES = Paging("link", param="page", size_param="per_page", size=100)

GITHUB = ProviderSpec(
    id="github",
    name="GitHub",
    service="github",
    is_sandbox=False,
    default_scopes=("read:user",),
    authorize_url="https://github.com/login/oauth/authorize",
    token_url="https://github.com/login/oauth/access_token",
    revoke_url="https://api.github.com/applications/{client_id}/grant",
    api_base_url="https://api.github.com",
    # A bad refresh answers 200 with error=bad_refresh_token; revocation is DELETE .../grant.
    dialect="github",
    scopes={
        "services.github.repositories.read": ("repo",),
        "services.github.repositories.write": ("repo",),
        "services.github.organisations.read": ("read:org",),
    },
    listings=(
        Listing(
            "repository", "/user/repos", id_field="full_name", private_field="private", paging=PAGES
        ),
        Listing("organisation", "/user/orgs", id_field="login", paging=PAGES),
    ),
    profile=Profile("/user", name_fields=("name", "login"), required=("id", "login")),
)
