"""The one exception hierarchy of apeltools, and the exit codes it maps to."""

from __future__ import annotations

from apeltools.quoting import quote


class ApelError(Exception):
    """Base of every error apeltools raises on purpose; its message is shown to users."""

    exit_code = 1


class ConfigError(ApelError):
    """A configuration file, option or environment variable is missing or wrong."""


class UsageError(ConfigError):
    """Settings that lack a required value or contradict each other: the program was called
    wrongly (exit 2, as for a wrong option)."""

    exit_code = 2


class RecordError(ApelError):
    """A record or message does not follow its format.

    ``field`` names the offending field when there is one; ``index`` is the
    record's 0-based position in its message and ``first_line`` the record's
    first line, so that an operator can find it.
    """

    def __init__(self, reason: str, field: str | None = None, index: int | None = None,
                 first_line: str | None = None) -> None:
        self.reason = reason
        self.field = field
        self.index = index
        self.first_line = first_line
        super().__init__(self.describe())

    def describe(self) -> str:
        parts = []
        if self.index is not None:
            where = f"record {self.index}"
            if self.first_line:
                where += f" ({quote(self.first_line)})"
            parts.append(where)
        if self.field:
            parts.append(f"field {quote(self.field, bare=True)}")
        prefix = ", ".join(parts)
        return f"{prefix}: {self.reason}" if prefix else self.reason

    def at(self, index: int | None, first_line: str | None) -> RecordError:
        """Return a copy of this error placed at a record of a message."""
        return RecordError(self.reason, self.field, index, first_line)


class MessageError(RecordError):
    """A whole message is unusable (unknown header, unreadable body)."""


class DatabaseError(ApelError):
    """A database operation failed for a reason that retrying will not fix."""


class TransientDatabaseError(DatabaseError):
    """The database is down, restarting, or asked us to retry (deadlock, lock wait)."""


class ConflictError(TransientDatabaseError):
    """The transaction lost to a concurrent one (a deadlock, a lock wait timeout, a Galera
    certification conflict at commit) and was rolled back: running it again succeeds."""


class DataRejected(DatabaseError):
    """The database refused the values of a message: they cannot be stored as they are."""


class WriteSetTooLarge(DatabaseError):
    """A Galera cluster refused the transaction as larger than its wsrep_max_ws_rows/size allow."""


class BusyError(ApelError):
    """Another process holds the lock this work needs (e.g. a second apel-summarise)."""


class QueueError(ApelError):
    """A directory queue cannot be read or written."""


class CryptoError(ApelError):
    """Signing, verification, encryption or decryption failed."""


class BrokerError(ApelError):
    """A message broker could not be reached or refused a message."""


def exit_code_for(error: BaseException) -> int:
    """Exit code for an exception reaching the top of a program."""
    if isinstance(error, ApelError):
        return error.exit_code
    return 1
