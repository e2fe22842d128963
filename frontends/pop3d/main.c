/* mc-pop3d: POP3 with STLS and POP3S. Until the POP3 protocol lands, each
 * connection gets -ERR [SYS/TEMP] saying the service is not available. */
#include "mailcore/mc-service.h"

/* Answers -ERR [SYS/TEMP] and closes. */
static void pop3d_accept(struct mc_loop *loop, struct bufferevent *bev,
			 const struct mc_conn_info *info, void *ctx)
{
	(void)loop;
	(void)info;
	(void)ctx;
	mc_service_reply_and_close(
		bev, "-ERR [SYS/TEMP] mailcore POP3 service not available yet");
}

static const struct mc_service_listener listeners[] = {
	{"listen", false, pop3d_accept},
	{"listen_tls", true, pop3d_accept},
	{0},
};

static const struct mc_service_def pop3d = {
	.name = "mc-pop3d",
	.section = "pop3d",
	.listeners = listeners,
	.needs_db = true,
	.needs_redis = true,
};

int main(int argc, char **argv)
{
	return mc_service_main(argc, argv, &pop3d);
}
