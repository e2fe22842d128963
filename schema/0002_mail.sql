-- 0002_mail: what mail needs to find its owner and to be kept: domain
-- settings (quota, size limit, catch-all, domain aliases), forwards,
-- send-as grants, tenant relay networks; the message store (mailboxes,
-- content-addressed messages, one row per message per mailbox, expunge
-- log); and the durable outbound queue. Every tenant-scoped table leads
-- with tenant_id.

-- A domain alias is a domain row whose mail goes to the same local part
-- at alias_for (u@old -> u@new); one level, same tenant.
ALTER TABLE domains
	ADD COLUMN alias_for bigint,
	ADD COLUMN quota_bytes bigint NOT NULL DEFAULT 0
	           CHECK (quota_bytes >= 0),
	ADD COLUMN default_user_quota bigint NOT NULL DEFAULT 0
	           CHECK (default_user_quota >= 0),
	ADD COLUMN max_message_bytes bigint NOT NULL DEFAULT 0
	           CHECK (max_message_bytes >= 0),
	-- over quota at RCPT: 452 4.2.2 (false) or 552 5.2.2 (true)
	ADD COLUMN quota_permanent boolean NOT NULL DEFAULT false,
	ADD COLUMN catchall text[]
	           CHECK (catchall IS NULL OR cardinality(catchall) BETWEEN 1 AND 1000),
	ADD CONSTRAINT domains_alias_for FOREIGN KEY (tenant_id, alias_for)
	           REFERENCES domains (tenant_id, id) ON DELETE CASCADE,
	ADD CONSTRAINT domains_alias_not_self CHECK (alias_for <> id);

ALTER TABLE users
	ADD COLUMN used_bytes bigint NOT NULL DEFAULT 0,
	ADD COLUMN forward_to text[] NOT NULL DEFAULT '{}'
	           CHECK (cardinality(forward_to) <= 100),
	ADD COLUMN forward_keep_copy boolean NOT NULL DEFAULT true,
	-- the IMAP node serving this user ("IP:port"); NULL: the tenant's
	ADD COLUMN imap_backend text,
	-- the ways the user may reach its mail
	ADD COLUMN protocols text[] NOT NULL
	           DEFAULT '{imap,pop3,smtp,webmail}'
	           CHECK (protocols <@ '{imap,pop3,smtp,webmail}');

-- Where an IMAP proxy sends the tenant's users ("IP:port"); NULL: the
-- node they connect to serves them.
ALTER TABLE tenants ADD COLUMN imap_backend text;

-- A domain's storage usage, spread over 16 rows (by user id) so that
-- deliveries to different users of one domain do not queue on one row
-- lock; the usage is the sum. Updated in each delivery's transaction.
CREATE TABLE domain_usage (
	tenant_id   bigint NOT NULL,
	domain_id   bigint NOT NULL,
	shard       smallint NOT NULL CHECK (shard BETWEEN 0 AND 15),
	used_bytes  bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant_id, domain_id, shard),
	FOREIGN KEY (tenant_id, domain_id) REFERENCES domains (tenant_id, id)
	            ON DELETE CASCADE
);

-- Addresses a user may send as besides its own: a full address, or
-- "@domain" for any address of one of the tenant's domains.
CREATE TABLE send_as (
	tenant_id   bigint NOT NULL,
	user_id     bigint NOT NULL,
	address     text NOT NULL CHECK (address = lower(address)),
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, user_id, address),
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
	            ON DELETE CASCADE
);

-- Client networks allowed to relay unauthenticated mail from the
-- tenant's domains (a customer's own servers).
CREATE TABLE tenant_networks (
	tenant_id   bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	network     cidr NOT NULL,
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, network)
);
CREATE INDEX tenant_networks_network ON tenant_networks USING gist
	(network inet_ops);

-- UIDVALIDITY values: strictly increasing from the time of installation,
-- so a mailbox deleted and created again never reuses one.
CREATE SEQUENCE uidvalidity_seq MAXVALUE 4294967295;
SELECT setval('uidvalidity_seq', extract(epoch FROM now())::bigint);

-- Mailboxes: names are full paths with '/' as the hierarchy separator;
-- INBOX is upper case. UIDNEXT and HIGHESTMODSEQ move under the row lock.
CREATE TABLE mailboxes (
	tenant_id      bigint NOT NULL,
	id             bigint GENERATED ALWAYS AS IDENTITY,
	user_id        bigint NOT NULL,
	name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 1000),
	special_use    text CHECK (special_use IN ('\Drafts', '\Sent', '\Trash',
	                           '\Junk', '\Archive', '\All', '\Flagged')),
	uidvalidity    bigint NOT NULL DEFAULT nextval('uidvalidity_seq'),
	uidnext        bigint NOT NULL DEFAULT 1,
	highestmodseq  bigint NOT NULL DEFAULT 1,
	subscribed     boolean NOT NULL DEFAULT true,
	messages       integer NOT NULL DEFAULT 0,
	size_bytes     bigint NOT NULL DEFAULT 0,
	created_at     timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, user_id, name),
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
	           ON DELETE CASCADE
);

-- One row per distinct message content in a tenant: the blob (named by
-- its SHA-256, stored once by the blob store) and what IMAP needs without
-- reading it. refcount counts the mailbox rows and queue entries using
-- it; rows at 0 are collected with their blob.
CREATE TABLE messages (
	tenant_id      bigint NOT NULL,
	id             bigint GENERATED ALWAYS AS IDENTITY,
	sha256         text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
	size_bytes     bigint NOT NULL,
	refcount       integer NOT NULL DEFAULT 0,
	-- IMAP values as sent (raw 8-bit header bytes possible: bytea)
	envelope       bytea NOT NULL,
	body           bytea NOT NULL,
	bodystructure  bytea NOT NULL,
	subject        text NOT NULL DEFAULT '',
	from_addr      text NOT NULL DEFAULT '',
	to_addr        text NOT NULL DEFAULT '',
	cc_addr        text NOT NULL DEFAULT '',
	message_id     text NOT NULL DEFAULT '',
	in_reply_to    text NOT NULL DEFAULT '',
	refs           text NOT NULL DEFAULT '',
	-- SORT keys (RFC 5256): base subject, first mailbox of From/To/Cc
	base_subject   text NOT NULL DEFAULT '',
	sort_from      text NOT NULL DEFAULT '',
	sort_to        text NOT NULL DEFAULT '',
	sort_cc        text NOT NULL DEFAULT '',
	-- where each MIME part's header and body are in the blob
	parts          text NOT NULL DEFAULT '',
	sent_at        timestamptz,
	has_attachments boolean NOT NULL DEFAULT false,
	search         tsvector,
	created_at     timestamptz NOT NULL DEFAULT now(),
	zero_since     timestamptz,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, sha256)
);
CREATE INDEX messages_sha256 ON messages (sha256);
CREATE INDEX messages_search ON messages USING gin (search);

-- A message in a mailbox. flags: bit 0 \Seen, 1 \Answered, 2 \Flagged,
-- 3 \Deleted, 4 \Draft; other keywords in keywords.
CREATE TABLE mailbox_messages (
	tenant_id      bigint NOT NULL,
	mailbox_id     bigint NOT NULL,
	uid            bigint NOT NULL,
	message_id     bigint NOT NULL,
	modseq         bigint NOT NULL,
	flags          integer NOT NULL DEFAULT 0,
	keywords       text[] NOT NULL DEFAULT '{}',
	internal_date  timestamptz NOT NULL DEFAULT now(),
	size_bytes     bigint NOT NULL,
	PRIMARY KEY (tenant_id, mailbox_id, uid),
	FOREIGN KEY (tenant_id, mailbox_id) REFERENCES mailboxes (tenant_id, id)
	           ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, message_id) REFERENCES messages (tenant_id, id)
);
CREATE INDEX mailbox_messages_modseq ON mailbox_messages
	(tenant_id, mailbox_id, modseq);
-- STATUS UNSEEN counts only the unseen rows.
CREATE INDEX mailbox_messages_unseen ON mailbox_messages
	(tenant_id, mailbox_id) WHERE flags & 1 = 0;
-- STATUS DELETED counts only the \Deleted ones.
CREATE INDEX mailbox_messages_deleted ON mailbox_messages
	(tenant_id, mailbox_id) WHERE flags & 8 <> 0;

-- Expunged UIDs with the MODSEQ of their expunge, for QRESYNC VANISHED.
CREATE TABLE expunged (
	tenant_id   bigint NOT NULL,
	mailbox_id  bigint NOT NULL,
	uid         bigint NOT NULL,
	modseq      bigint NOT NULL,
	PRIMARY KEY (tenant_id, mailbox_id, uid),
	FOREIGN KEY (tenant_id, mailbox_id) REFERENCES mailboxes (tenant_id, id)
	           ON DELETE CASCADE
);
CREATE INDEX expunged_modseq ON expunged (tenant_id, mailbox_id, modseq);

-- The outbound queue: one entry per accepted message with remote
-- recipients, holding a reference on the message content (of the same
-- tenant). tenant_id is the sending tenant; 0 is the provider itself
-- (mail relayed for a provider-wide relay network).
CREATE TABLE queue (
	tenant_id      bigint NOT NULL,
	id             bigint GENERATED ALWAYS AS IDENTITY,
	queue_id       text NOT NULL,
	message_id     bigint NOT NULL,
	sender         text NOT NULL,
	envid          text,
	ret            text CHECK (ret IN ('full', 'hdrs')),
	auth_user      text,
	client_ip      inet,
	size_bytes     bigint NOT NULL,
	state          text NOT NULL DEFAULT 'queued'
	               CHECK (state IN ('queued', 'held', 'done')),
	created_at     timestamptz NOT NULL DEFAULT now(),
	expires_at     timestamptz NOT NULL DEFAULT now() + interval '5 days',
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, message_id) REFERENCES messages (tenant_id, id)
);
CREATE INDEX queue_queue_id ON queue (queue_id);

-- Its recipients, each with its own state. 'failed' recipients wait for
-- the delivery agent to send their DSN.
CREATE TABLE queue_recipients (
	tenant_id      bigint NOT NULL,
	queue_entry    bigint NOT NULL,
	address        text NOT NULL,
	orcpt          text,
	notify         integer NOT NULL DEFAULT 0,
	state          text NOT NULL DEFAULT 'queued'
	               CHECK (state IN ('queued', 'deferred', 'delivered',
	                                'failed', 'bounced')),
	attempts       integer NOT NULL DEFAULT 0,
	next_attempt   timestamptz NOT NULL DEFAULT now(),
	last_error     text,
	PRIMARY KEY (tenant_id, queue_entry, address),
	FOREIGN KEY (tenant_id, queue_entry) REFERENCES queue (tenant_id, id)
	           ON DELETE CASCADE
);
CREATE INDEX queue_recipients_due ON queue_recipients (next_attempt)
	WHERE state IN ('queued', 'deferred', 'failed');
