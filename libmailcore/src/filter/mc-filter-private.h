/* mc-filter-private: the pipeline's shared state (mc-filter.c,
 * mc-filter-data.c). */
#ifndef MC_FILTER_PRIVATE_H
#define MC_FILTER_PRIVATE_H

#include "mailcore/mc-authres.h"
#include "mailcore/mc-dkim.h"
#include "mailcore/mc-dmarc.h"
#include "mailcore/mc-filter.h"
#include "mailcore/mc-spf.h"

struct mc_filter {
	struct mc_filter_settings set;
	char *authserv_id;
	struct mc_spf *spf;
	struct mc_dkim *dkim;
	struct mc_dmarc *dmarc;
};

#endif
