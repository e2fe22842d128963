-- Inbound protection (mc-filter.h): a domain's overrides of the server's
-- [filter] actions, as JSON: {"spf_fail": "reject"|"tag", "spf_softfail":
-- "reject"|"tag", "dmarc": true|false, "virus": "reject"|"tag", "tag":
-- "[SPAM]", "virus_tag": "[VIRUS]"}. Unknown keys are ignored.
ALTER TABLE domains
	ADD COLUMN filter_settings jsonb NOT NULL DEFAULT '{}'
	           CHECK (jsonb_typeof(filter_settings) = 'object');
