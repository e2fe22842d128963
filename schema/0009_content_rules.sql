-- 0009_content_rules: per-domain content policy (mc-content-rules): the
-- ordered rules and the attachment type blocklist that mc-smtpd checks
-- on every inbound message.

-- One rule of a domain. rule holds the rest of the rule's JSON form
-- ({"match", "conditions", "action"}, see mc-content-rules.h); name,
-- position and enabled are columns so the API can list and reorder
-- without rewriting it (the loader merges them back). Rules run in
-- position order; the uniqueness is deferrable so a transaction may swap
-- positions (SET CONSTRAINTS content_rules_position DEFERRED). The
-- validator refuses more than 100 rules per domain; the trigger below
-- enforces it for every writer.
CREATE TABLE content_rules (
	tenant_id   bigint NOT NULL,
	domain_id   bigint NOT NULL,
	id          bigint GENERATED ALWAYS AS IDENTITY,
	position    integer NOT NULL CHECK (position >= 0),
	name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	enabled     boolean NOT NULL DEFAULT true,
	rule        jsonb NOT NULL
	            CHECK (jsonb_typeof(rule) = 'object'
	                   AND pg_column_size(rule) <= 65536),
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	CONSTRAINT content_rules_position
	    UNIQUE (tenant_id, domain_id, position)
	    DEFERRABLE INITIALLY IMMEDIATE,
	FOREIGN KEY (tenant_id, domain_id) REFERENCES domains (tenant_id, id)
	    ON DELETE CASCADE
);

-- At most 100 rules per domain. Locks the domain row so that concurrent
-- inserts cannot both pass the count; runs as the owner so a scoped API
-- role needs no rights beyond its own rows.
CREATE FUNCTION mc_content_rules_limit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	dname text;
BEGIN
	SELECT name INTO dname FROM domains
		WHERE tenant_id = NEW.tenant_id AND id = NEW.domain_id FOR UPDATE;
	IF (SELECT count(*) FROM content_rules
	    WHERE tenant_id = NEW.tenant_id AND domain_id = NEW.domain_id) >= 100
	THEN
		PERFORM mc_limit_fail('content_rules', 'domain', dname, 100);
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER content_rules_limit BEFORE INSERT ON content_rules
	FOR EACH ROW EXECUTE FUNCTION mc_content_rules_limit();

-- The attachment blocklist of a domain: file name extensions ("exe",
-- "tar.gz", lower case, no leading dot) and MIME types
-- ("application/x-msdownload", or a top-level type with subtype "*"),
-- checked before the rules; a hit is rejected or quarantined.
ALTER TABLE domains
	ADD COLUMN attachment_blocklist text[] NOT NULL DEFAULT '{}'
	           CHECK (cardinality(attachment_blocklist) <= 200),
	ADD COLUMN attachment_blocklist_action text NOT NULL DEFAULT 'reject'
	           CHECK (attachment_blocklist_action IN ('reject',
	                                                  'quarantine'));

-- The API role: rules are tenant data under the scope policy (domains
-- already are).
GRANT SELECT, INSERT, UPDATE, DELETE ON content_rules TO mailcore_api;
GRANT USAGE ON SEQUENCE content_rules_id_seq TO mailcore_api;
ALTER TABLE content_rules ENABLE ROW LEVEL SECURITY;
CREATE POLICY scope ON content_rules TO mailcore_api
	USING (mc_scope_tenant(tenant_id));
