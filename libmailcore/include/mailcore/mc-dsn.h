/* mc-dsn: delivery status notifications (RFC 3464, RFC 3461, RFC 3462):
 * the multipart/report a delivery agent sends to the envelope sender
 * when recipients failed (or, as a warning, are still being retried):
 * a human-readable part, the message/delivery-status fields per
 * recipient, and the original message (RET=FULL) or its header only
 * (RET=HDRS, or when the message is over the size limit). Written as
 * CRLF text through a callback; the original is read through another. */
#ifndef MC_DSN_H
#define MC_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct mc_error;

enum mc_dsn_action {
	MC_DSN_FAILED,
	MC_DSN_DELAYED,
	MC_DSN_DELIVERED,
	MC_DSN_RELAYED,
	MC_DSN_EXPANDED,
};

struct mc_dsn_rcpt {
	const char *address; /* Final-Recipient: rfc822; address */
	const char *orcpt;   /* "rfc822;x@y" as given at RCPT, or NULL */
	enum mc_dsn_action action;
	const char *status;	/* "5.1.1" */
	const char *remote_mta; /* host name or NULL */
	const char *diag;	/* the remote reply "550 5.1.1 No such user",
				 * or NULL; written as "smtp; ..." */
	time_t last_attempt;	/* 0: not written */
	time_t retry_until;	/* delayed: Will-Retry-Until; 0: not written */
};

struct mc_dsn {
	const char *reporting_mta; /* our host name */
	const char *from;	   /* "MAILER-DAEMON@host.example" */
	const char *to;		   /* the envelope sender */
	const char *envid;	   /* Original-Envelope-Id, or NULL */
	const char *queue_id;	   /* X-Postfix-Queue-ID style: for the text */
	time_t arrival;
	const struct mc_dsn_rcpt *rcpts;
	size_t rcpts_count;
	bool headers_only; /* RET=HDRS */
	uint64_t max_full; /* return the full message only up to this size
			    * (0 = 10 MiB); beyond it only the header */
	time_t now;	   /* Date: (0 = time(NULL)) */
};

/* Reads the original message (CRLF lines): up to len bytes at offset;
 * the count, 0 at the end, -1 on error. */
typedef ssize_t mc_dsn_read_fn(void *ctx, void *buf, size_t len,
			       uint64_t offset);
/* Takes output; 0 or -1. */
typedef int mc_dsn_write_fn(void *ctx, const void *data, size_t len);

/* Writes the complete DSN message (header and body) for dsn, with the
 * original of original_size bytes read through read. Subject and text
 * say whether it is a failure or a delay warning (any failed recipient
 * makes it a failure report). 0, or -1 with err (read/write failed). */
int mc_dsn_write(const struct mc_dsn *dsn, uint64_t original_size,
		 mc_dsn_read_fn *read, void *read_ctx, mc_dsn_write_fn *write,
		 void *write_ctx, struct mc_error *err);

#endif
