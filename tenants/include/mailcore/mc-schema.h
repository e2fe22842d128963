/* mc-schema: the project's schema migrations (schema/NNNN_name.sql),
 * embedded at build time by ops/embed-schema.sh, in version order. */
#ifndef MC_SCHEMA_H
#define MC_SCHEMA_H

#include <stddef.h>

#include "mailcore/mc-migrate.h"

extern const struct mc_migration mc_schema_migrations[];
extern const size_t mc_schema_migrations_count;

#endif
