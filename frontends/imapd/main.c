/* mc-imapd: the IMAP server (and later its proxy mode) on IMAP with
 * STARTTLS and IMAPS. Until the IMAP protocol lands, each connection gets
 * an untagged BYE saying the service is not available yet. */
#include "mailcore/mc-service.h"

/* Says BYE [UNAVAILABLE] and closes. */
static void imapd_accept(struct mc_loop *loop, struct bufferevent *bev,
			 const struct mc_conn_info *info, void *ctx)
{
	(void)loop;
	(void)info;
	(void)ctx;
	mc_service_reply_and_close(
		bev,
		"* BYE [UNAVAILABLE] mailcore IMAP service not available yet");
}

static const struct mc_service_listener listeners[] = {
	{"listen", false, imapd_accept},
	{"listen_tls", true, imapd_accept},
	{0},
};

static const struct mc_service_def imapd = {
	.name = "mc-imapd",
	.section = "imapd",
	.listeners = listeners,
	.needs_db = true,
	.needs_redis = true,
};

int main(int argc, char **argv)
{
	return mc_service_main(argc, argv, &imapd);
}
