-- The security log: what the inbound checks (mc-filter) decided for each
-- message and local recipient, for the admins of the recipient's tenant
-- and domain (kept 30 days; the maintenance job purges older rows).
CREATE TABLE security_log (
	tenant_id    bigint NOT NULL,
	id           bigint GENERATED ALWAYS AS IDENTITY,
	domain_id    bigint NOT NULL,
	created_at   timestamptz NOT NULL DEFAULT now(),
	queue_id     text NOT NULL,
	client_ip    inet,
	sender       text NOT NULL,
	recipient    text NOT NULL,
	-- deliver, tag, junk, reject, quarantine (or tempfail: greylisted)
	action       text NOT NULL,
	reason       text,
	spf          text,
	dkim         text,
	dmarc        text,
	spam_score   real,
	virus        text,
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, domain_id) REFERENCES domains (tenant_id, id)
	            ON DELETE CASCADE
);
CREATE INDEX security_log_domain ON security_log (tenant_id, domain_id,
	created_at);
CREATE INDEX security_log_created ON security_log (created_at);

GRANT SELECT, INSERT, DELETE ON security_log TO mailcore_api;
GRANT USAGE ON SEQUENCE security_log_id_seq TO mailcore_api;
ALTER TABLE security_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY scope ON security_log TO mailcore_api
	USING (mc_scope_tenant(tenant_id));
