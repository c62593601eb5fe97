"""Email over SMTP, with optional STARTTLS (or implicit TLS) and login."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from vigil.notify.base import Notification, NotifierBase, NotifyError, RetryableNotifyError
from vigil.notify.config import EmailSettings
from vigil.notify.grouping import AlertGroup


def email_message(n: Notification, sender: str, to: list[str]) -> EmailMessage:
    """The message for one notification."""
    msg = EmailMessage()
    msg["Subject"] = f"{n.title}: {n.summary}"[:250]
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    lines = [n.title, "", n.summary, "", f"severity: {n.severity}", f"rule: {n.rule}"]
    lines += [f"{k}: {v}" for k, v in sorted(n.labels.items())]
    if n.value is not None:
        lines.append(f"value: {n.value:g} (threshold {n.threshold:g})")
    lines.append(f"alert id: {n.alert_id}")
    if n.url:
        lines.append(f"dashboard: {n.url}")
    msg.set_content("\n".join(lines) + "\n")
    return msg


def email_group_message(group: AlertGroup, sender: str, to: list[str]) -> EmailMessage:
    """The message for a group: one paragraph per alert, with its dashboard link."""
    msg = EmailMessage()
    msg["Subject"] = group.title[:250]
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    lines = [group.title, ""]
    for a in group.alerts:
        lines.append(
            f"- [{a.status.upper()}] {a.rule} on {a.labels.get('model', '*')} "
            f"({a.severity}): {a.summary}"
        )
        if a.value is not None:
            lines.append(f"  value: {a.value:g} (threshold {a.threshold:g})")
        lines.append(f"  alert id: {a.alert_id}")
        if a.url:
            lines.append(f"  dashboard: {a.url}")
    msg.set_content("\n".join(lines) + "\n")
    return msg


class EmailNotifier(NotifierBase):
    """Sends through ``host``:``port``; ``starttls`` upgrades the connection, ``ssl`` uses
    implicit TLS, ``ca_file`` trusts a private CA, ``username``/``password`` log in."""

    type = "email"
    settings: EmailSettings

    @property
    def to(self) -> list[str]:
        return self.settings.to

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def send(self, notification: Notification) -> None:
        self._send(email_message(notification, self.settings.from_, self.to))

    def send_group(self, group: AlertGroup) -> None:
        self._send(email_group_message(group, self.settings.from_, self.to))

    def _send(self, msg: EmailMessage) -> None:
        cfg = self.settings
        cls: type[smtplib.SMTP] = smtplib.SMTP_SSL if cfg.ssl else smtplib.SMTP
        kwargs: dict[str, Any] = {"context": self._context()} if cfg.ssl else {}
        try:
            with cls(
                cfg.host,
                cfg.port or (465 if cfg.ssl else 25),
                timeout=self.timeout_s,
                **kwargs,
            ) as smtp:
                if cfg.starttls:
                    smtp.starttls(context=self._context())
                if cfg.username:
                    smtp.login(cfg.username, cfg.password or "")
                smtp.send_message(msg)
        except smtplib.SMTPResponseException as exc:
            text = f"email {self.name}: SMTP {exc.smtp_code} {exc.smtp_error!r}"
            if 400 <= exc.smtp_code < 500:
                raise RetryableNotifyError(text) from None
            raise NotifyError(text) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise NotifyError(f"email {self.name}: recipients refused {exc.recipients}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise RetryableNotifyError(f"email {self.name}: {type(exc).__name__}: {exc}") from None
