from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Hook for sign-in events; the audit layer records them through allauth's signals."""
