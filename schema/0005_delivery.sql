-- 0005_delivery: what outbound delivery (mc-deliverd, mc-queue) needs:
-- claims with leases and attempt details on queue recipients, held
-- entries, per-tenant queue lifetimes, smarthost routes and the MTA-STS
-- policy cache.

-- A recipient is claimed by one delivery agent ("host:pid") until
-- claimed_until; a claim whose lease ended is free again (a crashed
-- agent's recipients come back). status is the last enhanced status code
-- ("4.4.1"), remote_mta the host that gave it; first_deferred is when the
-- recipient was first deferred (for delay warnings).
ALTER TABLE queue_recipients
	ADD COLUMN claimed_by text,
	ADD COLUMN claimed_until timestamptz,
	ADD COLUMN delay_warned boolean NOT NULL DEFAULT false,
	ADD COLUMN status text,
	ADD COLUMN remote_mta text,
	ADD COLUMN first_deferred timestamptz,
	ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
	ADD CONSTRAINT queue_recipients_claim
	    CHECK ((claimed_by IS NULL) = (claimed_until IS NULL));

-- When a pending recipient may be claimed: its next attempt is due and no
-- live claim holds it. Claims and the agent's sleep (mc_queue_next_due)
-- read this expression in due order; it replaces the index of 0002.
DROP INDEX queue_recipients_due;
CREATE INDEX queue_recipients_due ON queue_recipients
	((greatest(next_attempt, coalesce(claimed_until, '-infinity'))))
	WHERE state IN ('queued', 'deferred', 'failed');
-- The deferred-queue threshold counts per tenant.
CREATE INDEX queue_recipients_deferred ON queue_recipients (tenant_id)
	WHERE state = 'deferred';

-- Held entries (state 'held') are not delivered; held_reason says why.
-- expires_at is now an optional cap of the entry's own (NULL: none). An
-- entry expires at the earliest of that cap, created_at plus its tenant's
-- queue_lifetime and created_at plus the server's [delivery] lifetime (a
-- tenant may set less, not more); the rows of 0002 carry only the old
-- default, which the lifetimes replace.
ALTER TABLE queue
	ADD COLUMN held_reason text CHECK (length(held_reason) <= 1000),
	ALTER COLUMN expires_at DROP NOT NULL,
	ALTER COLUMN expires_at DROP DEFAULT;
UPDATE queue SET expires_at = NULL
	WHERE expires_at = created_at + interval '5 days';
-- Entries are found by queue_id within a tenant (management).
CREATE INDEX queue_tenant_queue_id ON queue (tenant_id, queue_id);

-- How long the tenant's mail may wait in the queue (NULL: the server's
-- [delivery] lifetime, which also caps it).
ALTER TABLE tenants
	ADD COLUMN queue_lifetime interval
	           CHECK (queue_lifetime > interval '0'
	                  AND queue_lifetime <= interval '365 days');

-- Smarthosts: mail matching a route goes to host:port instead of the
-- recipient domain's MX. tenant_id 0 holds the provider-wide routes.
-- kind: 'all' (every message), 'tenant' (every message of the tenant),
-- 'sender_domain' / 'recipient_domain' (match is that domain, lower
-- case). Among matching routes a lower priority is tried first. The
-- password is kept as given: it is sent to the smarthost.
CREATE TABLE relay_routes (
	tenant_id      bigint NOT NULL,
	id             bigint GENERATED ALWAYS AS IDENTITY,
	kind           text NOT NULL CHECK (kind IN ('all', 'tenant',
	                                     'sender_domain', 'recipient_domain')),
	match          text CHECK (match = lower(match)
	                           AND length(match) BETWEEN 1 AND 253),
	host           text NOT NULL CHECK (length(host) BETWEEN 1 AND 253),
	port           integer NOT NULL DEFAULT 25
	               CHECK (port BETWEEN 1 AND 65535),
	auth_user      text CHECK (length(auth_user) BETWEEN 1 AND 320),
	auth_password  text CHECK (length(auth_password) <= 1024),
	tls            text NOT NULL DEFAULT 'opportunistic'
	               CHECK (tls IN ('none', 'opportunistic', 'required',
	                              'verify')),
	priority       integer NOT NULL DEFAULT 0,
	created_at     timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	CHECK ((kind IN ('all', 'tenant')) = (match IS NULL)),
	CHECK ((auth_user IS NULL) = (auth_password IS NULL))
);
CREATE UNIQUE INDEX relay_routes_key ON relay_routes
	(tenant_id, kind, coalesce(match, ''), host, port);

-- MTA-STS policies (RFC 8461) as fetched, per policy domain; a policy is
-- used until expires_at (fetched_at + max_age) and refetched when the
-- _mta-sts TXT id changes.
CREATE TABLE mta_sts_policies (
	domain      text PRIMARY KEY CHECK (domain = lower(domain)
	                                    AND length(domain) BETWEEN 1 AND 253),
	policy_id   text NOT NULL,
	mode        text NOT NULL CHECK (mode IN ('enforce', 'testing', 'none')),
	mx          text[] NOT NULL DEFAULT '{}',
	max_age     integer NOT NULL CHECK (max_age >= 0),
	fetched_at  timestamptz NOT NULL DEFAULT now(),
	expires_at  timestamptz NOT NULL
);
CREATE INDEX mta_sts_policies_expires ON mta_sts_policies (expires_at);

-- The API role: relay routes are tenant data under the scope policy; the
-- MTA-STS cache holds public data that only the delivery agent writes.
GRANT SELECT, INSERT, UPDATE, DELETE ON relay_routes TO mailcore_api;
GRANT USAGE ON SEQUENCE relay_routes_id_seq TO mailcore_api;
GRANT SELECT ON mta_sts_policies TO mailcore_api;
ALTER TABLE relay_routes ENABLE ROW LEVEL SECURITY;
CREATE POLICY scope ON relay_routes TO mailcore_api
	USING (mc_scope_tenant(tenant_id));
