-- Sender allow and block lists of a domain (user_id NULL) or of one user:
-- a pattern is an address ("boss@example.com") or a domain ("@example.com").
-- For a recipient, allow beats block (mc-filter.h).
CREATE TABLE sender_lists (
	tenant_id   bigint NOT NULL,
	id          bigint GENERATED ALWAYS AS IDENTITY,
	domain_id   bigint NOT NULL,
	user_id     bigint,
	kind        text NOT NULL CHECK (kind IN ('allow', 'block')),
	pattern     text NOT NULL CHECK (pattern = lower(pattern)
	                                 AND length(pattern) BETWEEN 2 AND 320
	                                 AND pattern LIKE '%@%'),
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, domain_id) REFERENCES domains (tenant_id, id)
	            ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
	            ON DELETE CASCADE
);
CREATE UNIQUE INDEX sender_lists_key ON sender_lists (tenant_id, domain_id,
	coalesce(user_id, 0), kind, pattern);

GRANT SELECT, INSERT, UPDATE, DELETE ON sender_lists TO mailcore_api;
GRANT USAGE ON SEQUENCE sender_lists_id_seq TO mailcore_api;
ALTER TABLE sender_lists ENABLE ROW LEVEL SECURITY;
CREATE POLICY scope ON sender_lists TO mailcore_api
	USING (mc_scope_tenant(tenant_id));
