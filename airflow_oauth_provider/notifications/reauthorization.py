"""A notifier for dead grants: says which connection needs a human and how to fix it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseNotifier

from airflow_oauth_provider.exceptions import OAuth2ReauthorizationRequired

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["OAuth2ReauthorizationNotifier", "reauthorization_message"]

log = logging.getLogger(__name__)


def reauthorization_message(error: OAuth2ReauthorizationRequired, ui_base_url: str | None = None) -> str:
    """The one message a human needs: which connection, why, and the command or UI action that fixes it."""
    conn_id = error.conn_id or "(unknown connection)"
    fix = f"run `airflow oauth2 authorize {conn_id}`"
    if ui_base_url:
        fix += f" or press Connect at {ui_base_url.rstrip('/')}/oauth2/"
    reason = error.error_description or error.error
    return f"OAuth 2.0 connection {conn_id!r} needs re-authorization ({reason}): {fix}."


class OAuth2ReauthorizationNotifier(BaseNotifier):
    """
    ``on_failure_callback`` that speaks up only when a task failed because a grant is dead.

    Other failures are left to your usual alerts. The message is logged at ERROR and, when
    ``send`` is given, passed to it (e.g. a function posting to Slack or opening a ticket).

    :param send: called with the message.
    :param ui_base_url: the Airflow UI's base URL, to point at the Connect page.
    """

    template_fields = ("ui_base_url",)

    def __init__(self, *, send: Callable[[str], Any] | None = None, ui_base_url: str | None = None) -> None:
        super().__init__()
        self.send = send
        self.ui_base_url = ui_base_url

    def notify(self, context: Any) -> None:
        error = context.get("exception")
        if not isinstance(error, OAuth2ReauthorizationRequired):
            return
        message = reauthorization_message(error, self.ui_base_url)
        log.error("%s", message)
        if self.send is not None:
            self.send(message)
