/* mc-deliverd: outbound delivery. It listens on no port; it will claim
 * queue entries from PostgreSQL and deliver them. For now it connects to
 * the databases, reports ready and waits for a signal. */
#include "mailcore/mc-service.h"

static const struct mc_service_listener listeners[] = {{0}};

static const struct mc_service_def deliverd = {
	.name = "mc-deliverd",
	.section = "deliverd",
	.listeners = listeners,
	.needs_db = true,
	.needs_redis = true,
};

int main(int argc, char **argv)
{
	return mc_service_main(argc, argv, &deliverd);
}
