-- 0003_admin: the tenancy model of delegated administration. Resellers
-- (nested) above tenants; limits at every level with live counters kept by
-- triggers (so concurrent creates cannot overshoot); departments; user
-- lifecycle; named policies; role bindings and API tokens; the audit log;
-- idempotency keys; DKIM keys; automatic BCC rules. Row-level security
-- for the mailcore_api role, which API transactions take on.
--
-- Limits (0 = unlimited): lim_domains, lim_users, lim_aliases, lim_lists
-- count what exists in the subtree (checked at every level on create);
-- lim_storage is allocated to children (domains' quota_bytes, tenants'
-- and child resellers' lim_storage); lim_message_bytes, lim_send_count,
-- lim_send_bytes are per-user ceilings (the minimum along the chain).

CREATE TABLE resellers (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	parent_id     bigint REFERENCES resellers (id),
	name          text NOT NULL UNIQUE
	              CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
	display_name  text NOT NULL DEFAULT '' CHECK (length(display_name) <= 256),
	status        text NOT NULL DEFAULT 'active'
	              CHECK (status IN ('active', 'suspended')),
	-- the reseller's ancestors and itself, root first (set by trigger)
	path          bigint[] NOT NULL DEFAULT '{}',
	lim_domains   bigint NOT NULL DEFAULT 0 CHECK (lim_domains >= 0),
	lim_users     bigint NOT NULL DEFAULT 0 CHECK (lim_users >= 0),
	lim_aliases   bigint NOT NULL DEFAULT 0 CHECK (lim_aliases >= 0),
	lim_lists     bigint NOT NULL DEFAULT 0 CHECK (lim_lists >= 0),
	lim_storage   bigint NOT NULL DEFAULT 0 CHECK (lim_storage >= 0),
	lim_message_bytes bigint NOT NULL DEFAULT 0 CHECK (lim_message_bytes >= 0),
	lim_send_count bigint NOT NULL DEFAULT 0 CHECK (lim_send_count >= 0),
	lim_send_bytes bigint NOT NULL DEFAULT 0 CHECK (lim_send_bytes >= 0),
	n_domains     bigint NOT NULL DEFAULT 0,
	n_users       bigint NOT NULL DEFAULT 0,
	n_aliases     bigint NOT NULL DEFAULT 0,
	n_lists       bigint NOT NULL DEFAULT 0,
	version       bigint NOT NULL DEFAULT 1,
	created_at    timestamptz NOT NULL DEFAULT now(),
	CHECK (parent_id <> id)
);
CREATE INDEX resellers_parent ON resellers (parent_id);
CREATE INDEX resellers_path ON resellers USING gin (path);

ALTER TABLE tenants
	ADD COLUMN reseller_id bigint REFERENCES resellers (id),
	-- the reseller chain above the tenant, root first ('{}': the provider's)
	ADD COLUMN reseller_path bigint[] NOT NULL DEFAULT '{}',
	ADD COLUMN display_name text NOT NULL DEFAULT ''
	           CHECK (length(display_name) <= 256),
	ADD COLUMN lim_domains bigint NOT NULL DEFAULT 0 CHECK (lim_domains >= 0),
	ADD COLUMN lim_users bigint NOT NULL DEFAULT 0 CHECK (lim_users >= 0),
	ADD COLUMN lim_aliases bigint NOT NULL DEFAULT 0 CHECK (lim_aliases >= 0),
	ADD COLUMN lim_lists bigint NOT NULL DEFAULT 0 CHECK (lim_lists >= 0),
	ADD COLUMN lim_storage bigint NOT NULL DEFAULT 0 CHECK (lim_storage >= 0),
	ADD COLUMN lim_message_bytes bigint NOT NULL DEFAULT 0
	           CHECK (lim_message_bytes >= 0),
	ADD COLUMN lim_send_count bigint NOT NULL DEFAULT 0
	           CHECK (lim_send_count >= 0),
	ADD COLUMN lim_send_bytes bigint NOT NULL DEFAULT 0
	           CHECK (lim_send_bytes >= 0),
	ADD COLUMN n_domains bigint NOT NULL DEFAULT 0,
	ADD COLUMN n_users bigint NOT NULL DEFAULT 0,
	ADD COLUMN n_aliases bigint NOT NULL DEFAULT 0,
	ADD COLUMN n_lists bigint NOT NULL DEFAULT 0,
	ADD COLUMN version bigint NOT NULL DEFAULT 1;
CREATE INDEX tenants_reseller ON tenants (reseller_id);
CREATE INDEX tenants_reseller_path ON tenants USING gin (reseller_path);

-- Domain limits: quota_bytes is the domain's storage, max_message_bytes
-- its message size (both from 0002). The settings below are the defaults
-- that user policies override.
ALTER TABLE domains
	ADD COLUMN lim_users bigint NOT NULL DEFAULT 0 CHECK (lim_users >= 0),
	ADD COLUMN lim_aliases bigint NOT NULL DEFAULT 0 CHECK (lim_aliases >= 0),
	ADD COLUMN lim_lists bigint NOT NULL DEFAULT 0 CHECK (lim_lists >= 0),
	ADD COLUMN lim_send_count bigint NOT NULL DEFAULT 0
	           CHECK (lim_send_count >= 0),
	ADD COLUMN lim_send_bytes bigint NOT NULL DEFAULT 0
	           CHECK (lim_send_bytes >= 0),
	ADD COLUMN n_users bigint NOT NULL DEFAULT 0,
	ADD COLUMN n_aliases bigint NOT NULL DEFAULT 0,
	ADD COLUMN n_lists bigint NOT NULL DEFAULT 0,
	ADD COLUMN description text NOT NULL DEFAULT ''
	           CHECK (length(description) <= 1000),
	-- settings (policy defaults)
	ADD COLUMN attachment_max_bytes bigint NOT NULL DEFAULT 0
	           CHECK (attachment_max_bytes >= 0),
	ADD COLUMN internal_only boolean NOT NULL DEFAULT false,
	ADD COLUMN protocols text[] NOT NULL DEFAULT '{imap,pop3,smtp,webmail}'
	           CHECK (protocols <@ '{imap,pop3,smtp,webmail}'),
	-- password policy
	ADD COLUMN pw_min_length integer NOT NULL DEFAULT 10
	           CHECK (pw_min_length BETWEEN 6 AND 128),
	ADD COLUMN pw_classes text[] NOT NULL DEFAULT '{}'
	           CHECK (pw_classes <@ '{lower,upper,digit,symbol}'),
	ADD COLUMN pw_max_age_days integer NOT NULL DEFAULT 0
	           CHECK (pw_max_age_days BETWEEN 0 AND 3650),
	ADD COLUMN pw_reminder_days integer NOT NULL DEFAULT 14
	           CHECK (pw_reminder_days BETWEEN 0 AND 365),
	-- local parts the maximum age does not apply to (service accounts)
	ADD COLUMN pw_exceptions text[] NOT NULL DEFAULT '{}'
	           CHECK (cardinality(pw_exceptions) <= 1000),
	ADD COLUMN self_registration text NOT NULL DEFAULT 'off'
	           CHECK (self_registration IN ('off', 'open', 'approval')),
	ADD COLUMN version bigint NOT NULL DEFAULT 1;

-- Departments: a tree per domain, siblings ordered by position.
CREATE TABLE departments (
	tenant_id     bigint NOT NULL,
	id            bigint GENERATED ALWAYS AS IDENTITY,
	domain_id     bigint NOT NULL,
	parent_id     bigint,
	name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 128
	              AND name !~ '[[:cntrl:]/]'),
	position      integer NOT NULL DEFAULT 0,
	lim_users     bigint NOT NULL DEFAULT 0 CHECK (lim_users >= 0),
	lim_message_bytes bigint NOT NULL DEFAULT 0 CHECK (lim_message_bytes >= 0),
	lim_send_count bigint NOT NULL DEFAULT 0 CHECK (lim_send_count >= 0),
	lim_send_bytes bigint NOT NULL DEFAULT 0 CHECK (lim_send_bytes >= 0),
	n_users       bigint NOT NULL DEFAULT 0,
	version       bigint NOT NULL DEFAULT 1,
	created_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (id),
	FOREIGN KEY (tenant_id, domain_id) REFERENCES domains (tenant_id, id)
	            ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, parent_id) REFERENCES departments (tenant_id, id),
	CHECK (parent_id <> id)
);
-- Sibling names are unique (a NULL parent is the domain's top level).
CREATE UNIQUE INDEX departments_name ON departments
	(tenant_id, domain_id, coalesce(parent_id, 0), name);

ALTER TABLE users
	ADD COLUMN department_id bigint,
	-- when the user was deleted: recoverable for 7 days, then purged
	ADD COLUMN deleted_at timestamptz,
	ADD COLUMN version bigint NOT NULL DEFAULT 1,
	ADD CONSTRAINT users_department FOREIGN KEY (tenant_id, department_id)
	           REFERENCES departments (tenant_id, id),
	ADD CONSTRAINT users_deleted CHECK ((status = 'deleted') =
	                                    (deleted_at IS NOT NULL));
CREATE INDEX users_department ON users (tenant_id, department_id)
	WHERE department_id IS NOT NULL;
CREATE INDEX users_deleted ON users (deleted_at) WHERE deleted_at IS NOT NULL;

-- An alias forwards to its targets; a group is a distribution list (counted
-- against lim_lists).
ALTER TABLE aliases
	ADD COLUMN kind text NOT NULL DEFAULT 'alias'
	           CHECK (kind IN ('alias', 'group')),
	ADD COLUMN description text NOT NULL DEFAULT ''
	           CHECK (length(description) <= 1000),
	ADD COLUMN version bigint NOT NULL DEFAULT 1;

-- Named user policies of a domain, tried in position order; the first
-- whose selectors match applies (no selector: matches every user). NULL
-- settings fall through to the domain's, then the server's.
CREATE TABLE policies (
	tenant_id     bigint NOT NULL,
	id            bigint GENERATED ALWAYS AS IDENTITY,
	domain_id     bigint NOT NULL,
	name          text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
	position      integer NOT NULL DEFAULT 0,
	-- selectors: users of these departments (and their subtrees) ...
	departments   bigint[] NOT NULL DEFAULT '{}',
	-- ... or these local parts
	members       text[] NOT NULL DEFAULT '{}'
	              CHECK (cardinality(members) <= 10000),
	attachment_max_bytes bigint CHECK (attachment_max_bytes >= 0),
	send_count_daily bigint CHECK (send_count_daily >= 0),
	send_bytes_daily bigint CHECK (send_bytes_daily >= 0),
	internal_only boolean,
	protocols     text[] CHECK (protocols <@ '{imap,pop3,smtp,webmail}'),
	version       bigint NOT NULL DEFAULT 1,
	created_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, domain_id, name),
	FOREIGN KEY (tenant_id, domain_id) REFERENCES domains (tenant_id, id)
	            ON DELETE CASCADE
);

-- Automatic BCC: mail from (direction 'out') or to ('in') an address of
-- the domain, or any address ('*'), is also delivered to target.
CREATE TABLE bcc_rules (
	tenant_id     bigint NOT NULL,
	id            bigint GENERATED ALWAYS AS IDENTITY,
	domain_id     bigint NOT NULL,
	direction     text NOT NULL CHECK (direction IN ('in', 'out', 'both')),
	local_part    text NOT NULL CHECK (local_part = '*'
	              OR local_part ~ '^[a-z0-9._-]{1,64}$'),
	target        text NOT NULL CHECK (length(target) BETWEEN 3 AND 320),
	version       bigint NOT NULL DEFAULT 1,
	created_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, domain_id, direction, local_part, target),
	FOREIGN KEY (tenant_id, domain_id) REFERENCES domains (tenant_id, id)
	            ON DELETE CASCADE
);

-- Who may administer what: a role over a subtree, held by a user (web
-- sessions) and/or used by API tokens.
CREATE TABLE role_bindings (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	role          text NOT NULL CHECK (role IN ('provider', 'reseller',
	              'tenant', 'domain', 'assistant', 'department', 'user')),
	reseller_id   bigint REFERENCES resellers (id) ON DELETE CASCADE,
	tenant_id     bigint REFERENCES tenants (id) ON DELETE CASCADE,
	domain_id     bigint REFERENCES domains (id) ON DELETE CASCADE,
	department_id bigint REFERENCES departments (id) ON DELETE CASCADE,
	-- the user holding the role (NULL: tokens only, for automation)
	holder_tenant bigint,
	holder_id     bigint,
	label         text NOT NULL DEFAULT '' CHECK (length(label) <= 256),
	created_by    text NOT NULL DEFAULT '',
	created_at    timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (holder_tenant, holder_id) REFERENCES users (tenant_id, id)
	            ON DELETE CASCADE,
	CHECK (CASE role
	  WHEN 'provider' THEN num_nonnulls(reseller_id, tenant_id, domain_id,
	                                    department_id) = 0
	  WHEN 'reseller' THEN reseller_id IS NOT NULL
	       AND num_nonnulls(tenant_id, domain_id, department_id) = 0
	  WHEN 'tenant' THEN tenant_id IS NOT NULL AND reseller_id IS NULL
	       AND num_nonnulls(domain_id, department_id) = 0
	  WHEN 'department' THEN num_nonnulls(tenant_id, domain_id,
	       department_id) = 3 AND reseller_id IS NULL
	  WHEN 'user' THEN num_nonnulls(tenant_id, domain_id, holder_id) = 3
	       AND holder_tenant = tenant_id AND reseller_id IS NULL
	       AND department_id IS NULL
	  ELSE num_nonnulls(tenant_id, domain_id) = 2 AND reseller_id IS NULL
	       AND department_id IS NULL END)
);
CREATE INDEX role_bindings_holder ON role_bindings (holder_tenant, holder_id);
CREATE INDEX role_bindings_tenant ON role_bindings (tenant_id);

-- API tokens: only the SHA-256 of the secret is kept.
CREATE TABLE api_tokens (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	binding_id    bigint NOT NULL REFERENCES role_bindings (id)
	              ON DELETE CASCADE,
	name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
	-- the first characters of the secret, to tell tokens apart
	prefix        text NOT NULL,
	hash          bytea NOT NULL UNIQUE,
	networks      cidr[] NOT NULL DEFAULT '{}',
	expires_at    timestamptz,
	revoked_at    timestamptz,
	last_used_at  timestamptz,
	last_used_ip  inet,
	created_by    text NOT NULL DEFAULT '',
	created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_tokens_binding ON api_tokens (binding_id);

-- Every administrative change: who (actor, role), what (action, target,
-- changed fields), from where, when; placed in the tree so that each
-- subtree's admins can read their own.
CREATE TABLE audit_log (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at            timestamptz NOT NULL DEFAULT now(),
	reseller_path bigint[] NOT NULL DEFAULT '{}',
	tenant_id     bigint,
	domain_id     bigint,
	department_id bigint,
	actor         text NOT NULL,
	actor_role    text NOT NULL,
	action        text NOT NULL,
	target        text NOT NULL,
	changes       jsonb NOT NULL DEFAULT '{}',
	client_ip     inet,
	request_id    text
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
CREATE INDEX audit_log_domain ON audit_log (domain_id, id);
CREATE INDEX audit_log_reseller ON audit_log USING gin (reseller_path);

-- Idempotency-Key replay: per principal (token or session binding), kept
-- 24 hours.
CREATE TABLE idempotency_keys (
	principal     text NOT NULL,
	key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
	request_hash  text NOT NULL,
	status        integer,
	location      text,
	body          text,
	created_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- DKIM signing keys; at most one active key per domain and algorithm.
-- Retired keys stay published until deleted.
CREATE TABLE dkim_keys (
	tenant_id     bigint NOT NULL,
	id            bigint GENERATED ALWAYS AS IDENTITY,
	domain_id     bigint NOT NULL,
	selector      text NOT NULL CHECK (selector ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
	algorithm     text NOT NULL CHECK (algorithm IN ('rsa-2048', 'ed25519')),
	private_key   text NOT NULL,
	-- the p= value of the DNS record (base64)
	public_key    text NOT NULL,
	status        text NOT NULL DEFAULT 'active'
	              CHECK (status IN ('active', 'retired')),
	created_at    timestamptz NOT NULL DEFAULT now(),
	retired_at    timestamptz,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, domain_id, selector),
	FOREIGN KEY (tenant_id, domain_id) REFERENCES domains (tenant_id, id)
	            ON DELETE CASCADE
);
CREATE UNIQUE INDEX dkim_keys_active ON dkim_keys (tenant_id, domain_id,
	algorithm) WHERE status = 'active';

-- Paths ---------------------------------------------------------------

-- A reseller's path is its parent's and itself; the parent never changes.
CREATE FUNCTION mc_reseller_path() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.parent_id IS DISTINCT FROM OLD.parent_id THEN
		RAISE EXCEPTION 'a reseller cannot move' USING ERRCODE = '22023';
	END IF;
	NEW.path := coalesce((SELECT path FROM resellers
	                      WHERE id = NEW.parent_id), '{}') || NEW.id;
	RETURN NEW;
END $$;
CREATE TRIGGER resellers_path BEFORE INSERT OR UPDATE OF parent_id
	ON resellers FOR EACH ROW EXECUTE FUNCTION mc_reseller_path();

CREATE FUNCTION mc_tenant_path() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.reseller_id IS DISTINCT FROM OLD.reseller_id
	THEN
		RAISE EXCEPTION 'a tenant cannot move' USING ERRCODE = '22023';
	END IF;
	NEW.reseller_path := coalesce((SELECT path FROM resellers
	                               WHERE id = NEW.reseller_id), '{}');
	RETURN NEW;
END $$;
CREATE TRIGGER tenants_path BEFORE INSERT OR UPDATE OF reseller_id
	ON tenants FOR EACH ROW EXECUTE FUNCTION mc_tenant_path();

-- Counters --------------------------------------------------------------

-- Raises the limit error: SQLSTATE MC001, the detail a JSON object
-- {"limit", "level", "name", "max"} for the problem response.
CREATE FUNCTION mc_limit_fail(what text, level text, who text, lim bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION '% limit of % % reached (%)', what, level, who, lim
	USING ERRCODE = 'MC001',
	      DETAIL = json_build_object('limit', what, 'level', level,
	                                 'name', who, 'max', lim)::text;
END $$;

-- Adds delta to the user counters of a department and its ancestors; a
-- positive delta past a nonzero limit fails.
CREATE FUNCTION mc_count_departments(dept bigint, delta integer)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
AS $$
DECLARE
	r record;
BEGIN
	FOR r IN WITH RECURSIVE up(id) AS (
		SELECT dept UNION
		SELECT p.parent_id FROM departments p JOIN up ON p.id = up.id
		WHERE p.parent_id IS NOT NULL)
	  UPDATE departments x SET n_users = n_users + delta
	  FROM up WHERE x.id = up.id RETURNING x.name, x.n_users, x.lim_users
	LOOP
		IF delta > 0 AND r.lim_users > 0 AND r.n_users > r.lim_users THEN
			PERFORM mc_limit_fail('users', 'department', r.name,
			                      r.lim_users);
		END IF;
	END LOOP;
END $$;

-- Adds delta to counter what (domains, users, aliases, lists) of a domain
-- (unless d is NULL), a tenant and the tenant's resellers; a positive delta
-- past a nonzero limit at any level fails. Runs as the owner so that a
-- scoped API role still counts at levels it cannot see; the row locks
-- serialise concurrent creates, so no level can overshoot.
CREATE FUNCTION mc_count(what text, t bigint, d bigint, delta integer)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
AS $$
DECLARE
	r record;
BEGIN
	IF d IS NOT NULL THEN
		FOR r IN EXECUTE format('UPDATE domains SET n_%1$s = n_%1$s + $1 '
		        'WHERE id = $2 RETURNING name, n_%1$s AS n, '
		        'lim_%1$s AS lim', what) USING delta, d
		LOOP
			IF delta > 0 AND r.lim > 0 AND r.n > r.lim THEN
				PERFORM mc_limit_fail(what, 'domain', r.name, r.lim);
			END IF;
		END LOOP;
	END IF;
	FOR r IN EXECUTE format('UPDATE tenants SET n_%1$s = n_%1$s + $1 '
	        'WHERE id = $2 RETURNING name, n_%1$s AS n, lim_%1$s AS lim',
	        what) USING delta, t
	LOOP
		IF delta > 0 AND r.lim > 0 AND r.n > r.lim THEN
			PERFORM mc_limit_fail(what, 'tenant', r.name, r.lim);
		END IF;
	END LOOP;
	FOR r IN EXECUTE format('UPDATE resellers SET n_%1$s = n_%1$s + $1 '
	        'WHERE id = ANY ((SELECT reseller_path FROM tenants '
	        'WHERE id = $2)::bigint[]) RETURNING name, n_%1$s AS n, lim_%1$s AS lim',
	        what) USING delta, t
	LOOP
		IF delta > 0 AND r.lim > 0 AND r.n > r.lim THEN
			PERFORM mc_limit_fail(what, 'reseller', r.name, r.lim);
		END IF;
	END LOOP;
END $$;

CREATE FUNCTION mc_count_domains() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.alias_for IS NULL THEN
		PERFORM mc_count('domains', NEW.tenant_id, NULL, 1);
	END IF;
	IF TG_OP IN ('DELETE', 'UPDATE') AND OLD.alias_for IS NULL THEN
		PERFORM mc_count('domains', OLD.tenant_id, NULL, -1);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER domains_count AFTER INSERT OR DELETE OR UPDATE OF alias_for
	ON domains FOR EACH ROW EXECUTE FUNCTION mc_count_domains();

CREATE FUNCTION mc_count_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	-- a move between departments counts out of the old chain first
	IF TG_OP IN ('DELETE', 'UPDATE') AND OLD.department_id IS NOT NULL THEN
		PERFORM mc_count_departments(OLD.department_id, -1);
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.department_id IS NOT NULL THEN
		PERFORM mc_count_departments(NEW.department_id, 1);
	END IF;
	IF TG_OP = 'INSERT' THEN
		PERFORM mc_count('users', NEW.tenant_id, NEW.domain_id, 1);
	ELSIF TG_OP = 'DELETE' THEN
		PERFORM mc_count('users', OLD.tenant_id, OLD.domain_id, -1);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER users_count AFTER INSERT OR DELETE ON users
	FOR EACH ROW EXECUTE FUNCTION mc_count_users();
CREATE TRIGGER users_count_move AFTER UPDATE OF department_id ON users
	FOR EACH ROW WHEN (NEW.department_id IS DISTINCT FROM OLD.department_id)
	EXECUTE FUNCTION mc_count_users();

CREATE FUNCTION mc_count_aliases() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP IN ('DELETE', 'UPDATE') THEN
		PERFORM mc_count(CASE OLD.kind WHEN 'group' THEN 'lists'
		                 ELSE 'aliases' END,
		        OLD.tenant_id, OLD.domain_id, -1);
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') THEN
		PERFORM mc_count(CASE NEW.kind WHEN 'group' THEN 'lists'
		                 ELSE 'aliases' END,
		        NEW.tenant_id, NEW.domain_id, 1);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER aliases_count AFTER INSERT OR DELETE ON aliases
	FOR EACH ROW EXECUTE FUNCTION mc_count_aliases();
CREATE TRIGGER aliases_count_kind AFTER UPDATE OF kind ON aliases
	FOR EACH ROW WHEN (NEW.kind <> OLD.kind)
	EXECUTE FUNCTION mc_count_aliases();

-- The counters of what already exists.
UPDATE tenants t SET
	n_domains = (SELECT count(*) FROM domains d
	             WHERE d.tenant_id = t.id AND d.alias_for IS NULL),
	n_users = (SELECT count(*) FROM users u WHERE u.tenant_id = t.id),
	n_aliases = (SELECT count(*) FROM aliases a WHERE a.tenant_id = t.id);
UPDATE domains d SET
	n_users = (SELECT count(*) FROM users u
	           WHERE u.tenant_id = d.tenant_id AND u.domain_id = d.id),
	n_aliases = (SELECT count(*) FROM aliases a
	             WHERE a.tenant_id = d.tenant_id AND a.domain_id = d.id);

-- Row-level security ------------------------------------------------------

-- The scope of the current API transaction, set with
-- set_config('mailcore.scope', ..., true): 'provider', 'reseller:<id>' or
-- 'tenant:<id>'. Anything else sees nothing.
CREATE FUNCTION mc_scope_tenant(t bigint) RETURNS boolean LANGUAGE sql STABLE
SECURITY DEFINER SET search_path FROM CURRENT AS $$
	SELECT CASE
	  WHEN s = 'provider' THEN true
	  WHEN s LIKE 'tenant:%' THEN t::text = substr(s, 8)
	  WHEN s LIKE 'reseller:%' THEN EXISTS (SELECT 1 FROM tenants x
	       WHERE x.id = t AND substr(s, 10) = ANY (x.reseller_path::text[]))
	  ELSE false END
	FROM (SELECT coalesce(current_setting('mailcore.scope', true), '')
	      AS s) c
$$;

-- Rows placed above tenants (resellers, their bindings and audit rows).
CREATE FUNCTION mc_scope_path(p bigint[]) RETURNS boolean LANGUAGE sql STABLE
AS $$
	SELECT CASE
	  WHEN s = 'provider' THEN true
	  WHEN s LIKE 'reseller:%' THEN substr(s, 10) = ANY (p::text[])
	  ELSE false END
	FROM (SELECT coalesce(current_setting('mailcore.scope', true), '')
	      AS s) c
$$;

DO $$
BEGIN
	-- Creating the role needs CREATEROLE; without it, a DBA creates it
	-- first (CREATE ROLE mailcore_api NOLOGIN; GRANT mailcore_api TO
	-- <the mailcore role>), as ops/stack.sh does.
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mailcore_api')
	THEN
		CREATE ROLE mailcore_api NOLOGIN;
	END IF;
	IF NOT pg_has_role(current_user, 'mailcore_api', 'MEMBER') THEN
		EXECUTE format('GRANT mailcore_api TO %I', current_user);
	END IF;
	EXECUTE format('GRANT USAGE ON SCHEMA %I TO mailcore_api',
	               current_schema());
	EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES '
	               'IN SCHEMA %I TO mailcore_api', current_schema());
	EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I '
	               'TO mailcore_api', current_schema());
END $$;

ALTER TABLE resellers ENABLE ROW LEVEL SECURITY;
CREATE POLICY scope ON resellers TO mailcore_api
	USING (mc_scope_path(path));

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY scope ON tenants TO mailcore_api
	USING (mc_scope_tenant(id))
	WITH CHECK (mc_scope_tenant(id) OR mc_scope_path(reseller_path));

ALTER TABLE role_bindings ENABLE ROW LEVEL SECURITY;
CREATE POLICY scope ON role_bindings TO mailcore_api
	USING (CASE WHEN tenant_id IS NOT NULL THEN mc_scope_tenant(tenant_id)
	            WHEN reseller_id IS NOT NULL THEN mc_scope_path(
	                 (SELECT r.path FROM resellers r WHERE r.id = reseller_id))
	            ELSE mc_scope_path('{}') END);

ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY scope ON api_tokens TO mailcore_api
	USING (EXISTS (SELECT 1 FROM role_bindings b WHERE b.id = binding_id));

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY scope ON audit_log TO mailcore_api
	USING (CASE WHEN tenant_id IS NOT NULL THEN mc_scope_tenant(tenant_id)
	            ELSE mc_scope_path(reseller_path) END);

-- Every table that leads with tenant_id: the tenant must be in scope.
DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['domains', 'users', 'aliases', 'departments',
	        'policies', 'bcc_rules', 'dkim_keys', 'send_as',
	        'tenant_networks', 'domain_usage', 'mailboxes', 'messages',
	        'mailbox_messages', 'expunged', 'queue', 'queue_recipients']
	LOOP
		EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
		EXECUTE format('CREATE POLICY scope ON %I TO mailcore_api '
		               'USING (mc_scope_tenant(tenant_id))', t);
	END LOOP;
END $$;
