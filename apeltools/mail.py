"""Mailing reports: multipart/alternative (plain text and HTML) over SMTP, settings from ``[mail]``.

``[mail]`` keys: host (default localhost), port (default 587 with starttls,
else 25), starttls (default true), user and password_file (login, after
STARTTLS), from (default apeltools@<this host's name>). A server that is
down, refuses the connection, the login or a recipient is a :class:`MailError`
naming the server and what it said.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from apeltools.config import Config
from apeltools.errors import ApelError

TIMEOUT = 30.0


class MailError(ApelError):
    """The report could not be mailed."""


@dataclass
class MailSettings:
    host: str = "localhost"
    port: int = 587
    starttls: bool = True
    user: str | None = None
    password_file: str | None = None
    sender: str = ""
    cafile: str | None = None  # a private CA for STARTTLS (tests, in-house servers); default: the system's

    @classmethod
    def from_config(cls, config: Config) -> MailSettings:
        starttls = config.get_bool("mail", "starttls", True)
        port = config.get("mail", "port")
        return cls(host=config.get("mail", "host", "localhost"), port=int(port) if port else (587 if starttls else 25),
                   starttls=starttls, user=config.get("mail", "user"),
                   password_file=config.get("mail", "password_file"),
                   sender=config.get("mail", "from") or f"apeltools@{socket.getfqdn()}",
                   cafile=config.get("mail", "cafile"))

    def password(self) -> str:
        if not self.password_file:
            raise MailError("[mail] user is set but password_file is not: cannot log in to the mail server")
        try:
            with open(self.password_file, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise MailError(f"[mail] password_file {self.password_file}: {exc.strerror}") from None


def message(sender: str, recipients: list[str], subject: str, text: str, html: str | None = None) -> EmailMessage:
    """A message with the text, and the HTML as its alternative when given."""
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, ", ".join(recipients), subject
    mail["Date"], mail["Message-ID"] = formatdate(localtime=False), make_msgid(domain=sender.rpartition("@")[2] or None)
    mail.set_content(text)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    return mail


def send(settings: MailSettings, recipients: list[str], subject: str, text: str, html: str | None = None) -> None:
    """Send ``text`` (and ``html`` as its alternative) to ``recipients``; MailError when the server will not."""
    mail = message(settings.sender, recipients, subject, text, html)
    where = f"mail server {settings.host}:{settings.port}"
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=settings.cafile))
            if settings.user:
                smtp.login(settings.user, settings.password())
            refused = smtp.send_message(mail)
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(f"{where} refused every recipient: {_replies(exc.recipients)}") from None
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"{where} refused: {exc.smtp_code} {_text(exc.smtp_error)}") from None
    except smtplib.SMTPNotSupportedError:
        raise MailError(f"{where} does not offer STARTTLS (set [mail] starttls = false to send in clear)") from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise MailError(f"cannot reach {where}: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}"
                        ) from None
    if refused:
        raise MailError(f"{where} refused some recipients: {_replies(refused)}")


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _replies(recipients: dict) -> str:
    return "; ".join(f"{address}: {code} {_text(reply)}" for address, (code, reply) in sorted(recipients.items()))
