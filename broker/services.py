"""The broker's entry points, for its views (REST and MCP) and tasks. Each job has its module:

- :mod:`broker.tokens`: who is calling (the platform token) and for which grant;
- :mod:`broker.selectors`: the reads (the token's facts in one query, grants, connections);
- :mod:`broker.call`: the brokered call end to end (the orchestration);
- :mod:`broker.bodies`: a write's body checked against its operation;
- :mod:`broker.provider_calls`: the provider call and reading its answer;
- :mod:`broker.pending`: held writes (the states are consent.pending's);
- :mod:`broker.jobs`: background job checks;
- :mod:`broker.platform`: /me, /token, /actions/{id}.
"""

from broker.call import authenticate_for_call, broker_call
from broker.jobs import background_jobs_recheck, job_check
from broker.pending import pending_action_perform
from broker.platform import action_status, me, token_view
from broker.records import BrokerResult
from broker.tokens import grant_for_token, token_authenticate

__all__ = [
    "BrokerResult",
    "action_status",
    "authenticate_for_call",
    "background_jobs_recheck",
    "broker_call",
    "grant_for_token",
    "job_check",
    "me",
    "pending_action_perform",
    "token_authenticate",
    "token_view",
]
