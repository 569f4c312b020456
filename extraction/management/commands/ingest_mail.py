"""Feed incoming mail to the mail gate: one message on stdin, a Maildir, an mbox, or IMAP.

Only the arguments are read here; :mod:`extraction.mail.sources` reads the source (exit
statuses, quarantine and IMAP flags are described there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dssportal.infra.signingkey import signing_key_refusal
from extraction.mail.sources import EX_TEMPFAIL, IMAP_PASSWORD_ENV, MailSourceError, MailSources


class Command(BaseCommand):
    help = (
        "Hand incoming mail to the DSS mail gate: one RFC 5322 message on standard input "
        "(for an MTA pipe), or every new message of --maildir, --mbox or --imap. Exits 75 "
        "(EX_TEMPFAIL) when the database is unreachable, so the MTA retries."
    )
    # An MTA runs this once per message: skip the system checks, they cost more than the work.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--maildir", metavar="DIR", help="handle the messages in DIR/new")
        source.add_argument("--mbox", metavar="FILE", help="handle every message of an mbox")
        source.add_argument(
            "--imap",
            metavar="URL",
            help="imap[s]://user[:password]@host[:port]/MAILBOX; handles UNSEEN messages and "
            f"marks them \\Seen (password also from ${IMAP_PASSWORD_ENV})",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="with --imap: poll every SECONDS (0, the default: once)",
        )
        parser.add_argument(
            "--kind",
            choices=["request", "delete"],
            help="treat every message as sent to this address, whatever its headers say",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        refusal = signing_key_refusal("ingest_mail")
        if refusal:  # the MTA keeps the message and retries (EX_TEMPFAIL)
            raise CommandError(refusal, returncode=EX_TEMPFAIL)
        sources = MailSources(out=self.stdout.write, err=self.stderr.write)
        kind = options["kind"]
        try:
            if options["maildir"]:
                sources.maildir(Path(options["maildir"]), kind)
            elif options["mbox"]:
                sources.mbox(Path(options["mbox"]), kind)
            elif options["imap"]:
                sources.imap(options["imap"], kind, options["interval"])
            else:
                sources.stdin(kind)
        except MailSourceError as exc:
            raise CommandError(str(exc), returncode=exc.returncode) from exc
