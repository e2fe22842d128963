-- 0001_tenancy: tenants, their domains, users and aliases: enough for mail
-- to find its owner. Every tenant-scoped table leads with tenant_id (the
-- distribution key if the database is ever sharded by tenant).

CREATE TABLE tenants (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name        text NOT NULL UNIQUE
	            CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
	status      text NOT NULL DEFAULT 'active'
	            CHECK (status IN ('active', 'suspended', 'deleted')),
	created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE domains (
	tenant_id   bigint NOT NULL REFERENCES tenants (id),
	id          bigint GENERATED ALWAYS AS IDENTITY,
	name        text NOT NULL
	            CHECK (name = lower(name) AND length(name) BETWEEN 1 AND 253),
	status      text NOT NULL DEFAULT 'active'
	            CHECK (status IN ('active', 'suspended', 'expired')),
	expires_at  timestamptz,
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (id)
);
-- A domain name belongs to one tenant across the installation.
CREATE UNIQUE INDEX domains_name ON domains (name);

CREATE TABLE users (
	tenant_id      bigint NOT NULL,
	id             bigint GENERATED ALWAYS AS IDENTITY,
	domain_id      bigint NOT NULL,
	local_part     text NOT NULL CHECK (local_part ~ '^[a-z0-9._-]{1,64}$'),
	password_hash  text NOT NULL,
	display_name   text NOT NULL DEFAULT '',
	status         text NOT NULL DEFAULT 'active'
	               CHECK (status IN ('active', 'frozen', 'pending', 'expired',
	                                 'deleted')),
	quota_bytes    bigint NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0),
	password_changed_at timestamptz NOT NULL DEFAULT now(),
	created_at     timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, domain_id, local_part),
	FOREIGN KEY (tenant_id, domain_id) REFERENCES domains (tenant_id, id)
);

CREATE TABLE aliases (
	tenant_id   bigint NOT NULL,
	id          bigint GENERATED ALWAYS AS IDENTITY,
	domain_id   bigint NOT NULL,
	local_part  text NOT NULL CHECK (local_part ~ '^[a-z0-9._-]{1,64}$'),
	targets     text[] NOT NULL
	            CHECK (cardinality(targets) BETWEEN 1 AND 1000),
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, domain_id, local_part),
	FOREIGN KEY (tenant_id, domain_id) REFERENCES domains (tenant_id, id)
);
