"""The mail gate with messages shaped like the ones real mail clients send."""

from __future__ import annotations

import base64
import email
import socket
import threading
import time
from datetime import timedelta
from email import policy
from email.header import Header
from email.message import EmailMessage as MimeMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.db import OperationalError, connection
from django.utils import timezone

from accounts.models import EmailAddress
from extraction.mail import gate as mailgate
from extraction.mail.gate import MailTemporaryFailure, mail_handle
from extraction.models import InboundMail, Request, StagingDirectory
from extraction.services.staging import staging_directory_delete, staging_directory_for_request
from extraction.text.mailtext import html_to_text, unflow
from extraction.text.requestlist import parse_request_list

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ngc7793_plate")]

REQUEST_ADDRESS = "dss@archive.example"
DELETE_ADDRESS = "dss-delete@archive.example"
LINES = (
    "field01 12 5 13 30 45 32 10. 10. B1950 DSS1 e G",
    "N7793 23 57 49.4 -32 35 24. 60. 60. J2000 DSS1 04IN U",
    "NGC253 0 47 34.3 -25 17 32. 45. 45. J2000 DSS2 c B",
)
LIST = "\n".join(LINES) + "\n"


@pytest.fixture(autouse=True)
def service(settings, tmp_path):
    settings.DSSPORTAL_REQUEST_ADDRESS = REQUEST_ADDRESS
    settings.DSSPORTAL_DELETE_ADDRESS = DELETE_ADDRESS
    settings.DEFAULT_FROM_EMAIL = REQUEST_ADDRESS
    settings.DSSPORTAL_PUBLIC_URL = "https://dss.archive.example"
    settings.STAGING_DIR = tmp_path / "staging"


@pytest.fixture
def alice(make_user):
    return make_user("alice", "alice@example.org")


@pytest.fixture
def handle(django_capture_on_commit_callbacks):
    """``mail_handle`` with the after-commit work (reply, tasks) run as in production."""

    def _handle(message, **kwargs):
        raw = message if isinstance(message, bytes) else message.as_bytes()
        with django_capture_on_commit_callbacks(execute=True):
            return mail_handle(raw, **kwargs)

    return _handle


def plain(
    body: str = LIST,
    *,
    sender: str = "Alice Astronomer <alice@example.org>",
    to: str = REQUEST_ADDRESS,
    message_id: str | None = "<m1@example.org>",
    subject: str = "DSS request",
    **headers: str,
) -> MimeMessage:
    message = MimeMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Mon, 05 Jan 2026 10:31:00 +0900"
    if message_id:
        message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def receipts() -> list[mail.EmailMessage]:
    """Replies of the gate (the completion messages of requests are left out)."""
    return [m for m in mail.outbox if "ready" not in m.subject]


def only_receipt() -> mail.EmailMessage:
    found = receipts()
    assert len(found) == 1, [m.subject for m in found]
    return found[0]


def flat(text: str) -> str:
    """Text with its line breaks and runs of blanks made single spaces: wrapping aside."""
    return " ".join(text.split())


def identifiers(request: Request) -> list[str]:
    return list(request.fields.order_by("line_no").values_list("identifier", flat=True))


# --------------------------------------------------------------------------------------
# Message shapes
# --------------------------------------------------------------------------------------


def test_thunderbird_format_flowed_lines_are_joined_and_the_signature_ends_the_list(alice, handle):
    raw = (
        "From: Alice <alice@example.org>\r\n"
        f"To: {REQUEST_ADDRESS}\r\n"
        "Subject: DSS\r\n"
        "Message-ID: <tb-1@example.org>\r\n"
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Thunderbird/115.6.0\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=UTF-8; format=flowed\r\n"
        "Content-Transfer-Encoding: 7bit\r\n"
        "\r\n"
        f"{LINES[0]}\r\n"
        "N7793 23 57 49.4 -32 35 24. 60. 60. J2000 DSS1 \r\n"
        "04IN U\r\n"
        f"{LINES[2]}\r\n"
        "-- \r\n"
        "Alice Astronomer, Mitaka \r\n"
        "Observatory\r\n"
    ).encode()
    outcome = handle(raw)
    assert outcome.outcome == "accepted"
    assert identifiers(outcome.request) == ["field01", "N7793", "NGC253"]
    assert outcome.request.rejected_lines == []


@pytest.mark.parametrize(
    ("text", "delsp", "expected"),
    [
        ("a b \nc\n", False, "a b c\n"),
        ("J20 \n00 DSS1\n", True, "J2000 DSS1\n"),
        ("> quoted \n> more\nnot quoted\n", False, "> quoted more\nnot quoted\n"),
        ("flowed \n> into a quote\n", False, "flowed \n> into a quote\n"),
        (" >From stuffed\n-- \nsig\n", False, ">From stuffed\n-- \nsig\n"),
    ],
)
def test_unflow_follows_rfc_3676(text, delsp, expected):
    assert unflow(text, delsp=delsp) == expected


def test_outlook_multipart_alternative_reads_the_text_part_only(alice, handle):
    message = MIMEMultipart("alternative")
    message["From"] = '"Astronomer, Alice" <alice@example.org>'
    message["To"] = f"DSS Archive <{REQUEST_ADDRESS}>"
    message["Subject"] = "RE: images"
    message["Message-ID"] = "<DB9PR01MB1234@eurprd01.prod.outlook.com>"
    message["X-Mailer"] = "Microsoft Outlook 16.0"
    text = MIMEText(LIST.replace("\n", "\r\n"), "plain", "windows-1252")
    html = MIMEText(
        "<html><body><div class=WordSection1>"
        + "".join(f"<p class=MsoNormal>{line}<o:p></o:p></p>" for line in LINES)
        + "<p class=MsoNormal>&nbsp;<o:p></o:p></p></div></body></html>",
        "html",
        "windows-1252",
    )
    message.attach(text)
    message.attach(html)
    outcome = handle(message.as_bytes())
    assert outcome.outcome == "accepted"
    assert identifiers(outcome.request) == ["field01", "N7793", "NGC253"]  # not six


def test_apple_mail_quoted_printable_with_soft_breaks_and_accents(alice, handle):
    body = (
        "Bonjour,\n\n"
        "Ca=C3=B1=C3=B3n-1 12 5 13 30 45 32 10. 10. B1950 DSS1 e =\nG\n"
        f"{LINES[1]}\n\nMerci, Ana=C3=AFs\n"
    )
    raw = (
        "From: =?utf-8?Q?Ana=C3=AFs?= <alice@example.org>\n"
        f"To: {REQUEST_ADDRESS}\n"
        "Subject: =?utf-8?Q?Images_=E2=80=94_NGC?=\n"
        "Message-Id: <B7E5C3F1-5F1A-4A7B-9E0C-1D2F3A4B5C6D@example.org>\n"
        "Mime-Version: 1.0 (Mac OS X Mail 16.0)\n"
        "Content-Type: text/plain;\n\tcharset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n\n" + body
    ).encode()
    outcome = handle(raw)
    assert identifiers(outcome.request) == ["Cañón-1", "N7793"]
    assert outcome.request.fields.get(line_no=3).stem == "Ca__n-1"
    rejected = outcome.request.rejected_lines
    assert [(r["line"], r["text"]) for r in rejected] == [(1, "Bonjour,"), (6, "Merci, Anaïs")]
    assert outcome.inbound.subject == "Images — NGC"


JAPANESE_BODY = (
    "国立天文台 DSS 御中\n\nお世話になっております。以下の領域の画像をお願いいたします。\n\n"
    + LIST
    + "\nよろしくお願いいたします。\n山田\n"
)


def test_iso_2022_jp_from_a_japanese_mailer(alice, handle):
    message = MIMEText(JAPANESE_BODY, "plain", "iso-2022-jp")
    message["From"] = formataddr(("山田 花子", "alice@example.org"), charset="iso-2022-jp")
    message["To"] = REQUEST_ADDRESS
    message["Subject"] = Header("DSS画像の依頼", "iso-2022-jp")
    message["Message-ID"] = "<20260105103100.1234@mail.example.jp>"
    message["X-Mailer"] = "Becky! ver. 2.81"
    raw = message.as_bytes()
    assert b"\x1b$B" in raw and max(raw) < 0x80  # 7-bit JIS on the wire
    outcome = handle(raw)
    assert identifiers(outcome.request) == ["field01", "N7793", "NGC253"]
    rejected = {r["line"]: r["text"] for r in outcome.request.rejected_lines}
    assert rejected[1] == "国立天文台 DSS 御中"
    assert rejected[3].startswith("お世話になっております。")
    assert outcome.inbound.subject == "DSS画像の依頼"
    receipt = only_receipt()
    assert "line 3: お世話になっております。" in receipt.body


@pytest.mark.parametrize(
    ("charset", "codec"), [("Shift_JIS", "cp932"), ("EUC-JP", "euc_jp"), ("x-sjis", "cp932")]
)
def test_shift_jis_and_euc_jp_bodies(alice, handle, charset, codec):
    # ① and the full-width tilde exist only in CP932, what Japanese Windows mailers really
    # send as Shift_JIS.
    text = JAPANESE_BODY.replace("山田", "山田①\uff5e" if codec == "cp932" else "山田")
    raw = (
        f"From: alice@example.org\nTo: {REQUEST_ADDRESS}\nSubject: dss\n"
        f"Message-ID: <{charset}@example.jp>\nMIME-Version: 1.0\n"
        f"Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: 8bit\n\n"
    ).encode() + text.encode(codec)
    outcome = handle(raw)
    assert identifiers(outcome.request) == ["field01", "N7793", "NGC253"]
    assert outcome.request.raw_text == text


def test_base64_and_crlf(alice, handle):
    payload = base64.encodebytes(LIST.replace("\n", "\r\n").encode("utf-8")).decode()
    raw = (
        f"From: alice@example.org\r\nTo: {REQUEST_ADDRESS}\r\nSubject: b64\r\n"
        "Message-ID: <b64@example.org>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + payload.replace("\n", "\r\n")
    ).encode()
    outcome = handle(raw)
    assert identifiers(outcome.request) == ["field01", "N7793", "NGC253"]
    assert outcome.request.rejected_lines == []


def test_undeclared_charset_falls_back_from_utf8_to_latin1(alice, handle):
    raw = (
        f"From: alice@example.org\nTo: {REQUEST_ADDRESS}\nMessage-ID: <l1@example.org>\n\n"
    ).encode() + f"Gr\xfc\xdfe\n{LIST}".encode("latin-1")
    outcome = handle(raw)
    assert outcome.request.rejected_lines[0]["text"] == "Grüße"
    assert len(identifiers(outcome.request)) == 3


def test_html_only_message_is_turned_into_text(alice, handle):
    html = (
        "<html><head><style>p {margin: 0}</style><title>x</title></head><body>"
        "<div dir='ltr'><p>Dear&nbsp;staff,</p>"
        f"<div>{LINES[0].replace(' ', '&nbsp;', 3)}<br>{LINES[1]}<br/></div>"
        "<table><tr><td>NGC253</td><td>0</td><td>47</td><td>34.3</td><td>-25</td><td>17</td>"
        "<td>32.</td><td>45.</td><td>45.</td><td>J2000</td><td>DSS2</td><td>c</td><td>B</td>"
        "</tr></table>"
        "<div class='gmail_quote'>On Mon, DSS wrote:<blockquote>old 1 2 3</blockquote></div>"
        "</div></body></html>"
    )
    message = MIMEText(html, "html", "utf-8")
    message["From"] = "alice@example.org"
    message["To"] = REQUEST_ADDRESS
    message["Message-ID"] = "<html@example.org>"
    outcome = handle(message.as_bytes())
    assert identifiers(outcome.request) == ["field01", "N7793", "NGC253"]
    assert [r["text"] for r in outcome.request.rejected_lines] == ["Dear staff,"]


def test_html_to_text_keeps_pre_and_decodes_entities():
    text = html_to_text("<pre>a  b\nc &amp; d</pre><p>x &lt;y&gt;</p><script>z()</script>")
    assert text == "a  b\nc & d\nx <y>"


def test_list_in_a_text_attachment_when_the_body_has_none(alice, handle):
    message = MIMEMultipart("mixed")
    message["From"] = "alice@example.org"
    message["To"] = REQUEST_ADDRESS
    message["Message-ID"] = "<att@example.org>"
    message.attach(MIMEText("Please find my list attached.\n\n-- \nAlice\n", "plain", "utf-8"))
    attachment = MIMEText(LIST, "plain", "utf-8")
    attachment.add_header("Content-Disposition", "attachment", filename="targets.txt")
    message.attach(attachment)
    outcome = handle(message.as_bytes())
    assert identifiers(outcome.request) == ["field01", "N7793", "NGC253"]
    assert outcome.request.rejected_lines == []
    body = flat(only_receipt().body)
    assert "read from the attached file 'targets.txt'" in body
    assert "The message body was not read." in body


def test_a_valid_body_wins_over_an_attachment(alice, handle):
    message = MIMEMultipart("mixed")
    message["From"] = "alice@example.org"
    message["To"] = REQUEST_ADDRESS
    message["Message-ID"] = "<att2@example.org>"
    message.attach(MIMEText(LINES[0] + "\n", "plain", "utf-8"))
    attachment = MIMEText(LIST, "plain", "utf-8")
    attachment.add_header("Content-Disposition", "attachment", filename="old.txt")
    message.attach(attachment)
    outcome = handle(message.as_bytes())
    assert identifiers(outcome.request) == ["field01"]
    assert "The attached file 'old.txt' was not read." in only_receipt().body


def test_quoted_reply_lines_are_not_fields(alice, handle):
    body = (
        "NEW1 1 2 3 +04 05 06 5 5 J2000 DSS2 e U\n\n"
        "On Mon, 5 Jan 2026 at 10:31, DSS archive <dss@archive.example> wrote:\n"
        f"> {LINES[0]}\n>\n> {LINES[1]}\n"
    )
    outcome = handle(plain(body))
    assert identifiers(outcome.request) == ["NEW1"]
    assert outcome.request.rejected_lines == []
    assert "3 line(s) quoted from an earlier message" in only_receipt().body


# --------------------------------------------------------------------------------------
# Senders
# --------------------------------------------------------------------------------------


def test_stranger_gets_one_notice_a_day_and_nothing_served(alice, handle):
    first = handle(plain(sender="Eve <eve@elsewhere.example>", message_id="<s1@x>"))
    second = handle(plain(sender="eve@elsewhere.example", message_id="<s2@x>"))
    assert first.outcome == second.outcome == "stranger"
    assert Request.objects.count() == 0
    notice = only_receipt()
    assert notice.to == ["eve@elsewhere.example"]
    assert "https://dss.archive.example/register/" in notice.body
    assert REQUEST_ADDRESS in notice.body
    assert [first.inbound.replied, second.inbound.replied] == [True, False]
    # A day later the address may be told again.
    InboundMail.objects.filter(pk=first.inbound.pk).update(
        received_at=timezone.now() - timedelta(hours=25)
    )
    assert handle(plain(sender="eve@elsewhere.example", message_id="<s3@x>")).replied


def test_display_name_spoof_is_the_address_behind_it(alice, handle):
    outcome = handle(plain(sender='"alice@example.org" <mallory@evil.example>'))
    assert outcome.outcome == "stranger" and outcome.sender == "mallory@evil.example"
    assert Request.objects.count() == 0
    assert only_receipt().to == ["mallory@evil.example"]


def test_unverified_address_and_inactive_user_are_strangers(alice, make_user, handle):
    EmailAddress.objects.create(user=alice, email="alice@home.example", verified=False)
    bob = make_user("bob", "bob@example.org")
    bob.is_active = False
    bob.save()
    assert handle(plain(sender="alice@home.example", message_id="<u1@x>")).outcome == "stranger"
    assert handle(plain(sender="bob@example.org", message_id="<u2@x>")).outcome == "stranger"
    assert Request.objects.count() == 0


def test_reply_goes_to_the_primary_address_not_reply_to(alice, handle):
    EmailAddress.objects.create(user=alice, email="alice@lab.example", verified=True)
    outcome = handle(
        plain(sender="alice@lab.example", Reply_To="list@lists.example", message_id="<p@x>")
    )
    assert outcome.outcome == "accepted" and outcome.request.user == alice
    receipt = only_receipt()
    assert receipt.to == ["alice@example.org"]
    assert receipt.extra_headers["Auto-Submitted"] == "auto-replied"
    assert receipt.extra_headers["In-Reply-To"] == "<p@x>"


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Return_Path": "<>"},
        {"List_Id": "Astronomers <astro.lists.example>"},
        {"Precedence": "list"},
        # Scripts that call themselves robots are taken at their word (issue 12, item 5):
        # a Precedence: bulk request once got a completion mail.
        {"Auto_Submitted": "auto-generated"},
        {"Precedence": "bulk"},
    ],
)
def test_responses_and_list_mail_are_neither_read_nor_answered(alice, handle, headers):
    outcome = handle(plain(**headers))
    assert outcome.outcome == "auto_submitted"
    assert Request.objects.count() == 0 and mail.outbox == []


# --------------------------------------------------------------------------------------
# Duplicates and limits
# --------------------------------------------------------------------------------------


def test_same_message_id_twice_makes_one_request_and_one_receipt(alice, handle):
    first = handle(plain())
    second = handle(plain())
    assert first.outcome == "accepted" and second.outcome == "duplicate"
    assert second.request == first.request
    assert Request.objects.count() == 1 and len(receipts()) == 1
    assert InboundMail.objects.count() == 2  # both arrivals are on record


def test_without_message_id_the_same_body_the_same_day_is_one_request(alice, handle):
    first = handle(plain(message_id=None))
    again = handle(plain(message_id=None))
    other = handle(plain(LINES[0], message_id=None))
    assert first.inbound.message_id_synthetic
    assert again.outcome == "duplicate" and other.outcome == "accepted"
    assert Request.objects.count() == 2
    # No In-Reply-To for a message id we made up.
    assert "In-Reply-To" not in receipts()[0].extra_headers


@pytest.mark.django_db(transaction=True)
def test_two_copies_at_once_make_one_request(alice):
    raw = plain(message_id="<race@example.org>").as_bytes()
    barrier = threading.Barrier(2)
    results: list[object] = []

    def deliver() -> None:
        barrier.wait()
        for _attempt in range(20):  # an MTA retries a temporary failure
            try:
                results.append(mail_handle(raw).outcome)
                break
            except MailTemporaryFailure:
                time.sleep(0.05)
            except Exception as exc:  # seen by the assertion below
                results.append(repr(exc))
                break
        connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["accepted", "duplicate"]
    assert Request.objects.count() == 1
    assert len(receipts()) == 1


def test_too_large_message_gets_a_clear_reply_and_nothing_else(alice, handle, settings):
    settings.DSSPORTAL_MAX_MAIL_BYTES = 4096
    message = plain(LIST + "# padding\n" * 600)
    outcome = handle(message)
    assert outcome.outcome == "too_large"
    assert Request.objects.count() == 0
    record = outcome.inbound
    assert record.raw_truncated and len(bytes(record.raw)) == 4096
    reply = only_receipt()
    assert reply.to == ["alice@example.org"]
    assert "reads messages of up to 4.1 kB, so nothing in it was read" in flat(reply.body)


# --------------------------------------------------------------------------------------
# Routing
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        ({"to": "colleague@example.org", "Cc": REQUEST_ADDRESS}, "request"),
        ({"to": "colleague@example.org", "Cc": f"DSS <{DELETE_ADDRESS}>"}, "delete"),
        ({"to": "undisclosed-recipients:;", "Delivered_To": REQUEST_ADDRESS}, "request"),
        ({"to": REQUEST_ADDRESS, "Delivered_To": DELETE_ADDRESS}, "delete"),
        ({"to": "alias@archive.example", "X_Original_To": DELETE_ADDRESS}, "delete"),
        ({"to": "DSS+urgent@Archive.Example"}, "request"),
        ({"to": "colleague@example.org"}, "unroutable"),
        ({"to": f"{REQUEST_ADDRESS}, {DELETE_ADDRESS}"}, "unroutable"),
    ],
)
def test_routing_by_recipient_headers(alice, handle, headers, kind):
    outcome = handle(plain(**headers))
    assert outcome.kind == kind
    assert Request.objects.count() == (1 if kind == "request" else 0)
    if kind == "unroutable" and "," not in headers["to"]:
        assert mail.outbox == []  # sent to neither address: no reply
    if "," in headers["to"]:
        assert "sent both to the request address" in flat(only_receipt().body)


def test_kind_forces_the_routing(alice, handle):
    outcome = handle(plain("dss-20260105-abcdefghijklm\n"), kind="delete")
    assert outcome.kind == "delete" and outcome.outcome == "deleted"
    assert Request.objects.count() == 0


# --------------------------------------------------------------------------------------
# The receipt
# --------------------------------------------------------------------------------------


def test_receipt_names_rejected_lines_skipped_fields_and_the_space(make_user, handle):
    make_user("carol", "carol@example.org", quota_mb=1)
    text = (
        "# my targets\n"
        "small 14 29 56 -62 41 05 5. 5. J2000 DSS1 e G\n"
        "N7793 23 57 49.4 -32 75 24. 60. 60. J2000 DSS1 04IN U\n"
        "\n"
        "big 14 29 56 -62 41 05 30 30 J2000 DSS2 e U\n"
    )
    outcome = handle(plain(text, sender="carol@example.org"))
    receipt = only_receipt()
    body = receipt.body
    assert receipt.subject == (
        f"DSS request #{outcome.request.pk} received: 2 field(s) accepted, 1 line(s) rejected"
    )
    assert "line 2    small -> small.fits.gz, about" in body
    assert "line 3: N7793 23 57 49.4 -32 75 24. 60. 60. J2000 DSS1 04IN U" in body
    assert "column 6 (Dec. minutes): '75' is not in 0-59" in body
    assert "SKIPPED FOR LACK OF STAGING SPACE" in body
    assert "line 5 (big): needs about 6.5 MB, but only" in " ".join(body.split())
    assert "your staging quota:" in body and "1.0 MB" in body
    assert "expected size of this request:" in body
    assert f"https://dss.archive.example/requests/{outcome.request.pk}/" in body
    assert "A second message will follow when the images are staged" in body
    assert max(len(line) for line in body.splitlines()) <= 72, body


def test_receipt_without_a_valid_line_shows_the_format(alice, handle):
    outcome = handle(plain("Hello, please send me M31.\nThanks\n"))
    assert outcome.outcome == "rejected"
    body = only_receipt().body
    assert "none of its lines is a valid field" in body
    assert "line 1: Hello, please send me M31." in body
    examples = body.split("For example:")[1]
    parsed = parse_request_list(examples.split("Lines starting with #")[0])
    assert [f.identifier for f in parsed.fields] == ["field01", "N7793", "NGC253"]
    assert not parsed.errors


# --------------------------------------------------------------------------------------
# Deletion lists
# --------------------------------------------------------------------------------------


def staged(user, size: int = 0) -> StagingDirectory:
    request = Request.objects.create(user=user, source="mail", raw_text="x")
    directory = staging_directory_for_request(request=request)
    (directory.absolute_path / "a.fits").write_bytes(b"\0" * size)
    return directory


def test_deletion_list_touches_only_the_senders_live_directories(
    alice, make_user, handle, settings
):
    settings.DSSPORTAL_MAIL_DELETION = "any"  # a site that acts on any registered sender's list
    bob = make_user("bob", "bob@example.org")
    mine, kept, gone = staged(alice, 2880), staged(alice), staged(alice)
    staging_directory_delete(directory=gone, reason="expired")
    theirs = staged(bob, 100)
    body = "\n".join(
        [
            mine.name,
            "dss-2026*",
            f"../user-{bob.pk}/{theirs.name}",
            theirs.name,
            "dss-20991231-abcdefghijklm",
            "Desktop",
            gone.name,
            kept.name.upper(),
            mine.name,
            "-- ",
            kept.name,
        ]
    )
    outcome = handle(plain(body, to=DELETE_ADDRESS))
    assert outcome.outcome == "deleted"
    mine.refresh_from_db(), kept.refresh_from_db(), theirs.refresh_from_db()
    assert mine.deleted_at is not None and mine.deleted_reason == "deleted by mail"
    assert not mine.absolute_path.exists()
    assert kept.deleted_at is None and kept.absolute_path.is_dir()
    assert theirs.deleted_at is None and (theirs.absolute_path / "a.fits").exists()

    text = " ".join(only_receipt().body.split())
    assert f"{mine.name} freed 2.9 kB" in text
    assert "line 2: dss-2026* wildcards are not accepted" in text
    assert f"line 3: ../user-{bob.pk}/{theirs.name} paths are not accepted" in text
    # Another user's directory and a name nobody has read the same: nothing is revealed.
    assert f"line 4: {theirs.name} no staging directory of yours has this name" in text
    assert "line 5: dss-20991231-abcdefghijklm no staging directory of yours has this name" in text
    assert "line 6: Desktop not a staging-directory name" in text
    assert f"line 7: {gone.name} already deleted on" in text and "(it expired)" in text
    assert f"line 8: {kept.name.upper()} not a staging-directory name" in text
    assert "line 9:" in text and "named already on line 1" in text
    assert f"YOUR STAGING DIRECTORIES NOW {kept.name}" in text


def test_deletion_by_a_stranger_deletes_nothing(alice, handle):
    mine = staged(alice)
    outcome = handle(plain(mine.name, sender="mallory@evil.example", to=DELETE_ADDRESS))
    assert outcome.outcome == "stranger"
    mine.refresh_from_db()
    assert mine.deleted_at is None and mine.absolute_path.is_dir()


# --------------------------------------------------------------------------------------
# Failures and real SMTP
# --------------------------------------------------------------------------------------


def test_database_down_is_a_temporary_failure_and_nothing_is_recorded(alice, monkeypatch):
    def unreachable(address):
        raise OperationalError("connection refused")

    monkeypatch.setattr(mailgate, "user_for_sender", unreachable)
    with pytest.raises(MailTemporaryFailure):
        mail_handle(plain().as_bytes())
    assert InboundMail.objects.count() == 0 and Request.objects.count() == 0


def test_a_software_fault_is_recorded_and_the_message_can_be_retried(alice, handle, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(mailgate, "request_create_from_text", broken)
    failed = handle(plain())
    assert failed.outcome == "failed" and "RuntimeError: bug" in failed.inbound.detail
    assert failed.inbound.dedup_key is None and bytes(failed.inbound.raw)
    monkeypatch.undo()
    assert handle(plain()).outcome == "accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Collect:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        self.messages[-1]["X-Envelope-Rcpt"] = ",".join(envelope.rcpt_tos)
        return "250 OK"


def test_replies_over_real_smtp_carry_the_rfc_3834_headers(alice, handle, settings):
    collector = _Collect()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        handle(plain(sender="Alice <ALICE@example.org>", message_id="<smtp-1@example.org>"))
    finally:
        controller.stop()
    receipt = next(m for m in collector.messages if "received" in m["Subject"])
    assert receipt["To"] == "alice@example.org"
    assert receipt["X-Envelope-Rcpt"] == "alice@example.org"
    assert receipt["Auto-Submitted"] == "auto-replied"
    assert receipt["In-Reply-To"] == "<smtp-1@example.org>"
    assert receipt["References"] == "<smtp-1@example.org>"
    assert receipt["From"] == REQUEST_ADDRESS
    assert "ACCEPTED FIELDS" in receipt.get_content()


def test_the_receipt_shows_the_example_lines_aligned_and_the_table_s_words(alice, handle):
    """The three example lines of REQUEST_FORMAT.md, the compressions and the mode words
    come from the request-list module and the survey table (one copy each)."""
    handle(plain(LIST.replace("NGC253 0", "N253 0") + "NGC253x 0 47 34 -25 17 32 5 5 J2000 DSS2 n"))
    body = flat(only_receipt().body)
    assert "mode c: the plate whose centre is closest" in body
    assert "plate 04IN" in body and "NGC253x -> a list of plates by mail, no image" in body
    mail.outbox.clear()
    handle(plain("hello, please send me images", message_id="<m2@example.org>"))
    body = only_receipt().body
    assert "field01 12 5  13   30  45 32  10. 10. B1950 DSS1 e    G\n" in body
    assert "N7793   23 57 49.4 -32 35 24. 60. 60. J2000 DSS1 04IN U\n" in body
    assert "NGC253  0  47 34.3 -25 17 32. 45. 45. J2000 DSS2 c    B\n" in body
    assert "compression (G (gzip), B (bzip2), X (xz) or U (none))" in flat(body)
