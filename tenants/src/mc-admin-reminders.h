/* mc-admin-reminders: password expiry reminders, one of maintenance's
 * jobs. A user whose password expires within its domain's
 * pw_reminder_days gets one short message in its INBOX per password. */
#ifndef MC_ADMIN_REMINDERS_H
#define MC_ADMIN_REMINDERS_H

struct mc_config;
struct mc_error;
struct mc_pg;
struct mc_redis;

/* Sends the reminders now due: every active user (in an active domain and
 * tenant, not one of the domain's exceptions) whose password expires
 * within the domain's pw_reminder_days (the domain's pw_max_age_days and
 * pw_reminder_days both nonzero) and who was not yet reminded for this
 * password (users.pw_reminded_at older than password_changed_at) gets a
 * message from postmaster@<domain> stored straight into its INBOX through
 * the message store (the blob store of cfg, as mc_service_blobs_from_config
 * opens it), announced on redis (may be NULL) as a delivery is. A user is
 * claimed before its message is stored (concurrent runs send once) and
 * released again when the store refuses it (quota) or fails, so a later
 * run retries. Returns the number sent, or -1 with err (MC_ERR_TEMPORARY
 * when PostgreSQL is down); reminders sent before a failure stay sent. */
int admin_password_reminders(struct mc_pg *pg, struct mc_redis *redis,
			     const struct mc_config *cfg, struct mc_error *err);

#endif
