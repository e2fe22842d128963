-- Fixture of test-directory: a directory exercising every routing rule.
INSERT INTO tenants (name) VALUES ('acme'), ('gone');
UPDATE tenants SET status = 'suspended' WHERE name = 'gone';
INSERT INTO domains (tenant_id, name, quota_bytes, max_message_bytes,
                     quota_permanent)
	VALUES (1, 'one.test', 100000, 20000, true);
INSERT INTO domain_usage VALUES (1, 1, 0, 400), (1, 1, 7, 600);
INSERT INTO domains (tenant_id, name, alias_for)
	SELECT 1, 'alias.test', id FROM domains WHERE name = 'one.test';
INSERT INTO domains (tenant_id, name, catchall)
	VALUES (1, 'catch.test', '{inbox@catch.test}');
INSERT INTO domains (tenant_id, name, catchall)
	VALUES (1, 'catchext.test', '{postmaster@partner.example}');
INSERT INTO domains (tenant_id, name, status) VALUES (1, 'susp.test', 'suspended');
INSERT INTO domains (tenant_id, name, expires_at)
	VALUES (1, 'exp.test', now() - interval '1 day');
INSERT INTO domains (tenant_id, name, status) VALUES (1, 'exp2.test', 'expired');
INSERT INTO domains (tenant_id, name) VALUES (2, 'two.test');

INSERT INTO users (tenant_id, domain_id, local_part, password_hash, status,
                   quota_bytes, used_bytes, forward_to, forward_keep_copy,
                   deleted_at)
SELECT 1, d.id, u.l, 'x', u.s, u.q, u.used, u.f::text[], u.k,
       CASE u.s WHEN 'deleted' THEN now() END
FROM domains d, (VALUES
	('alice', 'active', 5000, 100, '{}', true),
	('bob', 'frozen', 0, 0, '{}', true),
	('carol', 'active', 0, 0, '{dave@ext.example}', true),
	('dan', 'active', 0, 0, '{alice@one.test,x@ext.example}', false),
	('erin', 'deleted', 0, 0, '{}', true),
	('fwdloop', 'active', 0, 0, '{fwdloop@one.test}', false)
) AS u(l, s, q, used, f, k)
WHERE d.name = 'one.test';
INSERT INTO users (tenant_id, domain_id, local_part, password_hash)
	SELECT 1, id, 'inbox', 'x' FROM domains WHERE name = 'catch.test';
INSERT INTO users (tenant_id, domain_id, local_part, password_hash)
	SELECT 2, id, 'zed', 'x' FROM domains WHERE name = 'two.test';

INSERT INTO aliases (tenant_id, domain_id, local_part, targets)
SELECT 1, d.id, a.l, a.t::text[] FROM domains d, (VALUES
	('info', '{alice@one.test}'),
	('team', '{alice@one.test,bob@one.test,ext@partner.example,team@one.test}'),
	('loop1', '{loop2@one.test}'),
	('loop2', '{loop1@one.test}'),
	('everyone', '{alice@one.test,carol@one.test,dan@one.test,info@one.test}'),
	('dead', '{bob@one.test,nobody@one.test}'),
	('d1', '{d2@one.test}'), ('d2', '{d3@one.test}'), ('d3', '{d4@one.test}'),
	('d4', '{d5@one.test}'), ('d5', '{d6@one.test}'), ('d6', '{d7@one.test}'),
	('d7', '{d8@one.test}'), ('d8', '{d9@one.test}'), ('d9', '{d10@one.test}'),
	('d10', '{d11@one.test}'), ('d11', '{d12@one.test}'),
	('d12', '{alice@one.test}'),
	('viaalias', '{alice@alias.test}')
) AS a(l, t)
WHERE d.name = 'one.test';
