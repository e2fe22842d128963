/* mc-smtpd: edge SMTP for every tenant domain: MX, submission (STARTTLS)
 * and submissions (implicit TLS). Until the SMTP protocol lands, each
 * connection is told the service is not available yet (421 4.3.2). */
#include "mailcore/mc-config.h"
#include "mailcore/mc-service.h"
#include <stdio.h>

/* Greets a connection with a temporary refusal and closes it. */
static void smtpd_accept(struct mc_loop *loop, struct bufferevent *bev,
			 const struct mc_conn_info *info, void *ctx)
{
	(void)loop;
	(void)info;
	const char *host =
		mc_config_str(mc_service_config(ctx), "server", "hostname");
	char line[512];
	snprintf(line, sizeof(line),
		 "421 4.3.2 %s mailcore SMTP service not available yet",
		 *host != '\0' ? host : "localhost");
	mc_service_reply_and_close(bev, line);
}

static const struct mc_service_listener listeners[] = {
	{"listen_mx", false, smtpd_accept},
	{"listen_submission", false, smtpd_accept},
	{"listen_submissions", true, smtpd_accept},
	{0},
};

static const struct mc_service_def smtpd = {
	.name = "mc-smtpd",
	.section = "smtpd",
	.listeners = listeners,
	.needs_db = true,
	.needs_redis = true,
};

int main(int argc, char **argv)
{
	return mc_service_main(argc, argv, &smtpd);
}
