-- 0006_limits: per-domain overrides of the sending limits (mc-ratelimit.h,
-- [limits]). send_limits is a JSON object whose keys are the [limits] key
-- names of the user_ and domain_ limits ("user_messages_per_minute",
-- "domain_bytes_per_day", ...), each a non-negative integer; a key that is
-- present replaces the server's value (0 = unlimited), an absent one keeps
-- it. Client IP limits are the server's only.
ALTER TABLE domains ADD COLUMN send_limits jsonb NOT NULL DEFAULT '{}'
	CHECK (jsonb_typeof(send_limits) = 'object');
