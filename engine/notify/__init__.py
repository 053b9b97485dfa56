"""Notifications (issue 13 item 4): what the applicant (and officers) are told, on which channels.

* :mod:`engine.notify.channels`: the channel registry (``Runtime.channels``), the email channel
  (SMTP, :mod:`smtplib`) and the SMS channel over an adapter (a logging one is built in); the
  ``inbox`` (a row the applicant sees on the progress page) is always there.
* :mod:`engine.notify.templates`: the Jinja2 texts, zh and en, in ``forms/templates/notify/``.
* :mod:`engine.notify.queue`: which state changes notify, called by the gate
  (:mod:`engine.machine.transitions`) in the change's own transaction: an inbox row at once, and
  one outbox message (topic ``notify``) per other channel that reaches the recipient.
* :mod:`engine.notify.delivery`: what the dispatcher (:mod:`engine.machine.dispatch`) runs for
  such a message, outside any case lock, each attempt recorded; a failure is retried with the
  outbox's back-off and never fails the request that caused it.
"""
