-- 0004_reminders: password expiry reminders (tenants/src/mc-admin-reminders.c,
-- run by maintenance). pw_reminded_at is when the user was last sent one; it
-- counts for the password of that time only: a password set later
-- (password_changed_at after it) is reminded again once it is due.
ALTER TABLE users ADD COLUMN pw_reminded_at timestamptz;
