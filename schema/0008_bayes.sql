-- 0008_bayes: the statistics of the Bayesian spam classifier (mc-bayes):
-- per-token spam and ham counts and message totals per tenant, with
-- tenant_id 0 as the global table (the sum of every tenant's learning),
-- and which messages each tenant learned, as what.

-- Tokens are the first 64 bits of the SHA-256 of the token text (no text
-- of a message is stored). spam / ham: how many learned spam / ham
-- messages of the tenant (0: of all tenants) contained the token.
-- updated_at is when a learning last touched the row (for pruning old,
-- rare tokens); it is not indexed so the updates stay HOT.
CREATE TABLE bayes_tokens (
	tenant_id   bigint NOT NULL CHECK (tenant_id >= 0),
	token       bigint NOT NULL,
	spam        integer NOT NULL DEFAULT 0 CHECK (spam >= 0),
	ham         integer NOT NULL DEFAULT 0 CHECK (ham >= 0),
	updated_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, token)
);

-- The messages learned per tenant (0: all tenants). A table classifies
-- once it holds the configured minimum of both (200 by default).
CREATE TABLE bayes_totals (
	tenant_id      bigint PRIMARY KEY CHECK (tenant_id >= 0),
	spam_messages  bigint NOT NULL DEFAULT 0 CHECK (spam_messages >= 0),
	ham_messages   bigint NOT NULL DEFAULT 0 CHECK (ham_messages >= 0),
	updated_at     timestamptz NOT NULL DEFAULT now()
);

-- What each tenant learned each message as (by its SHA-256, as in
-- messages.sha256): a message counts once; learned the other way (moved
-- out of Junk) it is unlearned and learned again.
CREATE TABLE bayes_learned (
	tenant_id   bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
	learned_as  text NOT NULL CHECK (learned_as IN ('spam', 'ham')),
	learned_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, sha256)
);

-- Token counts and totals cannot reference tenants (tenant_id 0 is no
-- tenant): a deleted tenant's own rows go with it here. Its share of the
-- global table stays.
CREATE FUNCTION bayes_tenant_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM bayes_tokens WHERE tenant_id = OLD.id;
	DELETE FROM bayes_totals WHERE tenant_id = OLD.id;
	RETURN OLD;
END $$;
CREATE TRIGGER bayes_tenant_deleted AFTER DELETE ON tenants
	FOR EACH ROW EXECUTE FUNCTION bayes_tenant_deleted();

-- The API role: tenant data under the scope policy (the global rows,
-- tenant_id 0, are in the provider's scope only).
GRANT SELECT, INSERT, UPDATE, DELETE ON bayes_tokens, bayes_totals,
	bayes_learned TO mailcore_api;
ALTER TABLE bayes_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY scope ON bayes_tokens TO mailcore_api
	USING (mc_scope_tenant(tenant_id));
ALTER TABLE bayes_totals ENABLE ROW LEVEL SECURITY;
CREATE POLICY scope ON bayes_totals TO mailcore_api
	USING (mc_scope_tenant(tenant_id));
ALTER TABLE bayes_learned ENABLE ROW LEVEL SECURITY;
CREATE POLICY scope ON bayes_learned TO mailcore_api
	USING (mc_scope_tenant(tenant_id));
