"""The tables. Times are integer milliseconds since the Unix epoch (`*_at`), as TextFlow's
`timestamp` and `expires` are; money is integer micro-credits (`*_micros`), never floats."""

from __future__ import annotations

import sqlalchemy as sa

#: Explicit constraint names, the same on SQLite and PostgreSQL (and in migrations).
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)

#: A 64-bit key that still autoincrements on SQLite (where only INTEGER PRIMARY KEY does).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("credits_micros", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("is_operator", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("password_hash", sa.String(200), nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.CheckConstraint("credits_micros >= 0", name="credits_not_negative"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("key_hash", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False, server_default=""),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("last_used_at", sa.BigInteger, nullable=True),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("api_key_id", sa.Integer, nullable=True),
    sa.Column("kind", sa.String(8), nullable=False),
    #: Lower is claimed first: otp 0, sms 1, bulk 2.
    sa.Column("priority", sa.SmallInteger, nullable=False),
    sa.Column("to_number", sa.String(20), nullable=False),
    sa.Column("region", sa.String(2), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("encoding", sa.String(8), nullable=False),
    sa.Column("segments", sa.SmallInteger, nullable=False),
    sa.Column("price_micros", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    #: When a worker may claim it. While `sending`, this is the end of the worker's lease.
    sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
    sa.Column("provider", sa.String(64), nullable=True),
    sa.Column("provider_message_id", sa.String(100), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("submitted_at", sa.BigInteger, nullable=True),
    sa.Column("final_at", sa.BigInteger, nullable=True),
    #: The bulk job the message is one recipient of (kind `bulk`); NULL for the others.
    sa.Column("bulk_job_id", sa.BigInteger, nullable=True),
    sa.Index("ix_messages_account_id_id", "account_id", "id"),
    #: Partial: single SMS and codes (no job) cost nothing here when their status changes.
    sa.Index(
        "ix_messages_bulk_job_id_status",
        "bulk_job_id",
        "status",
        sqlite_where=sa.text("bulk_job_id IS NOT NULL"),
        postgresql_where=sa.text("bulk_job_id IS NOT NULL"),
    ),
    sa.Index("ix_messages_provider_provider_message_id", "provider", "provider_message_id"),
    #: Partial: the console's verification log (an account's codes, newest first).
    sa.Index(
        "ix_messages_otp_account_id_id",
        "account_id",
        "id",
        sqlite_where=sa.text("kind = 'otp'"),
        postgresql_where=sa.text("kind = 'otp'"),
    ),
    #: The queue: only pending rows are in it, ordered the way workers claim them.
    sa.Index(
        "ix_messages_due",
        "priority",
        "next_attempt_at",
        sqlite_where=sa.text("status IN ('queued', 'sending')"),
        postgresql_where=sa.text("status IN ('queued', 'sending')"),
    ),
)

#: Status history after acceptance (the `queued` step is the message's `created_at`).
message_events = sa.Table(
    "message_events",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("message_id", sa.BigInteger, sa.ForeignKey("messages.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Index("ix_message_events_message_id", "message_id"),
)

#: The one live verification code of an account for a phone number (send-code replaces it).
#: The code itself is not kept: a keyed hash checks it, and a sealed copy (AES-GCM) answers
#: TextFlow's `valid_code` unless the account masks its codes.
verifications = sa.Table(
    "verifications",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("code_sealed", sa.LargeBinary(64), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("message_id", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("verified_at", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("account_id", "phone", name="uq_verifications_account_id_phone"),
)

#: Each code sent, kept for an hour: the per-number and per-calling-code send limits.
verification_sends = sa.Table(
    "verification_sends",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("calling_code", sa.Integer, nullable=False),
    sa.Column("sent_at", sa.BigInteger, nullable=False),
    sa.Index("ix_verification_sends_account_id_phone_sent_at", "account_id", "phone", "sent_at"),
    sa.Index(
        "ix_verification_sends_account_id_calling_code_sent_at",
        "account_id",
        "calling_code",
        "sent_at",
    ),
)

#: Per-account options; no row means the server's defaults. NULL columns: the default.
account_settings = sa.Table(
    "account_settings",
    metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("code_length", sa.SmallInteger, nullable=True),
    sa.Column("mask_codes", sa.Boolean, nullable=False, server_default=sa.false()),
    #: Comma-separated ISO 3166-1 alpha-2 codes; NULL: every country.
    sa.Column("allowed_countries", sa.Text, nullable=True),
    sa.Column("otp_prefix_hourly", sa.Integer, nullable=True),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.CheckConstraint(
        "code_length IS NULL OR code_length BETWEEN 4 AND 10", name="code_length_range"
    ),
)

#: The parts of a long message an SMSC took as separate submits, each with its own id and
#: receipt. Single-part messages have no rows here (their id is messages.provider_message_id).
message_parts = sa.Table(
    "message_parts",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("message_id", sa.BigInteger, sa.ForeignKey("messages.id"), nullable=False),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("part_id", sa.String(100), nullable=False),
    #: 1 for the first part.
    sa.Column("seq", sa.SmallInteger, nullable=False),
    #: pending until its receipt: then delivered / undelivered / expired / rejected.
    sa.Column("state", sa.String(16), nullable=False),
    sa.Index("ix_message_parts_provider_part_id", "provider", "part_id"),
    sa.Index("ix_message_parts_message_id", "message_id"),
)

#: Receipts that came before their submit was recorded; applied when it is, or dropped
#: after a time limit (see store.receipts).
pending_receipts = sa.Table(
    "pending_receipts",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("provider_message_id", sa.String(100), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("received_at", sa.BigInteger, nullable=False),
    sa.Index("ix_pending_receipts_provider_provider_message_id", "provider", "provider_message_id"),
    sa.Index("ix_pending_receipts_received_at", "received_at"),
)

#: Messages handsets sent to us (SMPP deliver_sm that is not a receipt).
inbound_messages = sa.Table(
    "inbound_messages",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    #: The account the number belongs to, once inbound routing assigns one.
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=True),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("from_number", sa.String(32), nullable=False),
    sa.Column("to_number", sa.String(32), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("received_at", sa.BigInteger, nullable=False),
    sa.Index("ix_inbound_messages_account_id_id", "account_id", "id"),
)

#: One text to many recipients. The recipients are ordinary message rows (kind `bulk`,
#: `messages.bulk_job_id`): the job's counts by status are read off them.
bulk_jobs = sa.Table(
    "bulk_jobs",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("api_key_id", sa.Integer, nullable=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("encoding", sa.String(8), nullable=False),
    sa.Column("segments", sa.SmallInteger, nullable=False),
    #: Messages queued (numbers accepted).
    sa.Column("recipients", sa.Integer, nullable=False),
    sa.Column("rejected_invalid", sa.Integer, nullable=False),
    sa.Column("rejected_duplicate", sa.Integer, nullable=False),
    sa.Column("rejected_opted_out", sa.Integer, nullable=False),
    #: Debited when the job was accepted.
    sa.Column("price_micros", sa.BigInteger, nullable=False),
    #: Credited back for the recipients a cancel took out of the queue.
    sa.Column("refunded_micros", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("cancelled_at", sa.BigInteger, nullable=True),
    #: The one-time token of the console preview that started the job (NULL: not started
    #: from the console). Unique per account: a preview starts at most one job.
    sa.Column("console_token", sa.String(64), nullable=True),
    sa.Index(
        "uq_bulk_jobs_account_id_console_token",
        "account_id",
        "console_token",
        unique=True,
        sqlite_where=sa.text("console_token IS NOT NULL"),
        postgresql_where=sa.text("console_token IS NOT NULL"),
    ),
)

#: Numbers (E.164) that asked an account not to send them bulk messages.
opt_outs = sa.Table(
    "opt_outs",
    metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("phone_number", sa.String(20), primary_key=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

#: An account's webhook: where its events are POSTed and the secret that signs them, sealed
#: (AES-GCM under a key derived from the code key; see domain.webhooks.SecretBox). A row may
#: have a secret and no URL: clearing the URL keeps the secret the receiver knows.
webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("url", sa.String(2000), nullable=True),
    sa.Column("secret_sealed", sa.LargeBinary(128), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

#: The webhook outbox: each event for an account with a webhook URL, written in the
#: transaction of the change it reports, then delivered (and retried) by the worker's webhook
#: sender (see store.webhook_events). Ids are never reused (SQLite AUTOINCREMENT): they are
#: the events' ids receivers de-duplicate by.
webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    #: message.sent, message.delivered, message.failed, message.received
    sa.Column("type", sa.String(32), nullable=False),
    #: The message it reports on (for message.received: the message replied to, if known).
    sa.Column("message_id", sa.BigInteger, nullable=True),
    #: message.sent only: the recipient, so replies from that number find the account.
    sa.Column("to_number", sa.String(20), nullable=True),
    #: The event's `data`, JSON.
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    #: When it is due. While a sender holds it, the end of the sender's lease.
    sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
    #: pending, delivered or failed (attempts used up).
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("delivered_at", sa.BigInteger, nullable=True),
    sa.Index("ix_webhook_events_account_id_id", "account_id", "id"),
    sa.Index("ix_webhook_events_created_at", "created_at"),
    #: Partial: replies are matched to the latest message.sent to their number.
    sa.Index(
        "ix_webhook_events_to_number_id",
        "to_number",
        "id",
        sqlite_where=sa.text("to_number IS NOT NULL"),
        postgresql_where=sa.text("to_number IS NOT NULL"),
    ),
    #: The queue: only pending events are in it.
    sa.Index(
        "ix_webhook_events_due",
        "next_attempt_at",
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    ),
    sqlite_autoincrement=True,
)

#: A signed-in console browser. The id is the SHA-256 of the random token its session cookie
#: carries (the token itself is not kept); deleting the row signs that browser out.
console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("id", sa.LargeBinary(32), primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("last_seen_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
    #: The browser's User-Agent header, cut to 200 characters.
    sa.Column("user_agent", sa.String(200), nullable=False, server_default=""),
    #: The client address it signed in from.
    sa.Column("client", sa.String(64), nullable=False, server_default=""),
)
