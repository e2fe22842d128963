-- 0010_quarantine: mail held back from a recipient's mailboxes (virus,
-- spam, content rule, DMARC quarantine) until it is released into the
-- INBOX, deleted or expires. One row per recipient; each unreleased row
-- holds one reference on its message row (messages.refcount), so the
-- store's GC keeps the blob. The reference goes when the row is released
-- or deleted (the trigger below), also when a user purge cascades here.
-- A released row is kept until it expires, as a record, without its
-- message (message_id NULL: the GC may collect the content).

CREATE TABLE quarantine (
	tenant_id      bigint NOT NULL,
	id             bigint GENERATED ALWAYS AS IDENTITY,
	message_id     bigint,
	-- the recipient
	user_id        bigint NOT NULL,
	domain_id      bigint NOT NULL,
	recipient      text NOT NULL CHECK (length(recipient) BETWEEN 1 AND 320),
	-- the envelope sender ("" = null reverse-path) and the decoded
	-- Subject, for listings and digests
	sender         text NOT NULL DEFAULT ''
	               CHECK (length(sender) <= 320),
	subject        text NOT NULL DEFAULT ''
	               CHECK (length(subject) <= 1000),
	-- "virus: NAME", "spam score 12.3", "content rule NAME"...
	reason         text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
	category       text NOT NULL
	               CHECK (category IN ('virus', 'spam', 'policy', 'dmarc')),
	size_bytes     bigint NOT NULL CHECK (size_bytes >= 0),
	created_at     timestamptz NOT NULL DEFAULT now(),
	expires_at     timestamptz NOT NULL DEFAULT now() + interval '30 days',
	released_at    timestamptz,
	released_by    text CHECK (length(released_by) <= 400),
	digest_sent_at timestamptz,
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, message_id) REFERENCES messages (tenant_id, id),
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
	           ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, domain_id) REFERENCES domains (tenant_id, id)
	           ON DELETE CASCADE,
	CHECK ((released_at IS NULL) = (released_by IS NULL)),
	CHECK ((released_at IS NULL) = (message_id IS NOT NULL))
);
-- Listings per user and per domain, newest first (id is the cursor).
CREATE INDEX quarantine_user ON quarantine (tenant_id, user_id, id);
CREATE INDEX quarantine_domain ON quarantine (tenant_id, domain_id, id);
-- The maintenance job's expiry.
CREATE INDEX quarantine_expires ON quarantine (expires_at);
-- Digests: the unreleased rows not yet announced.
CREATE INDEX quarantine_digest ON quarantine (tenant_id, user_id, created_at)
	WHERE digest_sent_at IS NULL AND released_at IS NULL;

-- Drops the reference of a row that held one: deleted unreleased, or
-- released now. At 0 the message row is left to the GC (zero_since).
CREATE FUNCTION quarantine_unref() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE messages m SET refcount = m.refcount - 1,
	       zero_since = CASE WHEN m.refcount - 1 <= 0 THEN now() END
	WHERE m.tenant_id = OLD.tenant_id AND m.id = OLD.message_id;
	RETURN NULL;
END $$;
CREATE TRIGGER quarantine_unref_delete AFTER DELETE ON quarantine
	FOR EACH ROW WHEN (OLD.released_at IS NULL)
	EXECUTE FUNCTION quarantine_unref();
CREATE TRIGGER quarantine_unref_release AFTER UPDATE OF released_at
	ON quarantine FOR EACH ROW
	WHEN (OLD.released_at IS NULL AND NEW.released_at IS NOT NULL)
	EXECUTE FUNCTION quarantine_unref();

-- The API role: tenant data under the scope policy.
GRANT SELECT, INSERT, UPDATE, DELETE ON quarantine TO mailcore_api;
GRANT USAGE ON SEQUENCE quarantine_id_seq TO mailcore_api;
ALTER TABLE quarantine ENABLE ROW LEVEL SECURITY;
CREATE POLICY scope ON quarantine TO mailcore_api
	USING (mc_scope_tenant(tenant_id));
