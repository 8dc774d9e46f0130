"""
Reading and writing the token Variable, bypassing every cache.

Two paths, one contract (``load`` / ``save`` of the raw encrypted string):

- :class:`MetadataVariables` — the ORM, where it is usable (CLI, API server, tests).
- :class:`ExecutionAPIVariables` — the Task SDK's Execution API, in task and trigger processes,
  where the ORM is blocked. Messages go straight to the supervisor, so neither
  ``[secrets] use_cache`` nor a secrets backend can answer in the database's place.

A Variable of the same key in an environment variable (``AIRFLOW_VAR_*``) or a secrets
backend would shadow what we write for every other reader: that is an error, never a
silent "no token".
"""

from __future__ import annotations

from typing import Any, Protocol

from airflow_oauth_provider.exceptions import OAuth2TokenStoreError

__all__ = ["ExecutionAPIVariables", "MetadataVariables", "VariableIO"]

DESCRIPTION = "OAuth 2.0 token record of the airflow-oauth-provider (encrypted; managed, do not edit)"


class VariableIO(Protocol):
    """Raw access to one Variable's value in the metadata database."""

    name: str

    def read(self, key: str) -> str | None:
        """The stored value, straight from the database; ``None`` when absent."""

    def write(self, key: str, value: str) -> None:
        """Upsert the value."""

    def delete(self, key: str) -> None:
        """Remove the Variable."""


def _shadow_error(key: str, backend: Any) -> OAuth2TokenStoreError:
    name = type(backend).__name__
    where = f"the environment variable AIRFLOW_VAR_{key.upper()}" if name == "EnvironmentVariablesBackend" else name
    return OAuth2TokenStoreError(
        f"Variable {key!r} is shadowed by {where}: readers would see that value instead of the stored token. "
        "Remove it there, or set extra.token_variable to another key"
    )


class MetadataVariables:
    """Variables through the ORM, in a process where the metadata database is usable."""

    name = "metadata"

    def _check_shadow(self, key: str) -> None:
        from airflow.configuration import ensure_secrets_loaded
        from airflow.secrets.metastore import MetastoreBackend

        for backend in ensure_secrets_loaded():
            if isinstance(backend, MetastoreBackend):
                continue
            if backend.get_variable(key=key) is not None:
                raise _shadow_error(key, backend)

    def read(self, key: str) -> str | None:
        from airflow.models.variable import Variable
        from airflow.utils.session import create_session
        from sqlalchemy import select

        self._check_shadow(key)
        with create_session() as session:
            row = session.scalar(select(Variable).where(Variable.key == key))
            if row is None:
                return None
            value = row.val
            if value is None and row._val is not None:
                raise OAuth2TokenStoreError(
                    f"Variable {key!r} cannot be decrypted with [core] fernet_key (Airflow's own Variable encryption)"
                )
            return value  # type: ignore[no-any-return]

    def write(self, key: str, value: str) -> None:
        from airflow.models.variable import Variable
        from airflow.utils.session import create_session

        self._check_shadow(key)
        with create_session() as session:
            Variable.set(key, value, description=DESCRIPTION, session=session)

    def delete(self, key: str) -> None:
        from airflow.models.variable import Variable

        Variable.delete(key)


class ExecutionAPIVariables:
    """Variables through the Task SDK supervisor (task runner, triggerer, ``dags test``)."""

    name = "execution-api"

    def _comms(self) -> Any:
        from airflow.sdk.execution_time import task_runner

        comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
        if comms is None:
            raise OAuth2TokenStoreError("the Task SDK supervisor is not reachable from this process")
        return comms

    def _check_shadow(self, key: str) -> None:
        from airflow.sdk.execution_time.secrets.execution_api import ExecutionAPISecretsBackend
        from airflow.sdk.execution_time.supervisor import ensure_secrets_backend_loaded

        for backend in ensure_secrets_backend_loaded():
            if isinstance(backend, ExecutionAPISecretsBackend):
                continue
            if backend.get_variable(key=key) is not None:
                raise _shadow_error(key, backend)

    def read(self, key: str) -> str | None:
        from airflow.sdk.execution_time.comms import ErrorResponse, GetVariable

        self._check_shadow(key)
        response = self._comms().send(GetVariable(key=key))
        if isinstance(response, ErrorResponse):
            if getattr(response.error, "value", response.error) == "VARIABLE_NOT_FOUND":
                return None
            raise OAuth2TokenStoreError(f"reading Variable {key!r} through the Execution API failed: {response.error}")
        value = getattr(response, "value", None)
        return value if isinstance(value, str) else None

    def write(self, key: str, value: str) -> None:
        from airflow.sdk.execution_time.comms import ErrorResponse, PutVariable

        self._check_shadow(key)
        response = self._comms().send(PutVariable(key=key, value=value, description=DESCRIPTION))
        if isinstance(response, ErrorResponse):
            raise OAuth2TokenStoreError(f"writing Variable {key!r} through the Execution API failed: {response.error}")
        self._invalidate(key)

    def delete(self, key: str) -> None:
        from airflow.sdk.execution_time.comms import DeleteVariable

        self._comms().send(DeleteVariable(key=key))
        self._invalidate(key)

    @staticmethod
    def _invalidate(key: str) -> None:
        from airflow.sdk.execution_time.cache import SecretCache

        SecretCache.invalidate_variable(key)
