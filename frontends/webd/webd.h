/* webd.h: what mc-webd's main.c uses of its other files: the well-known
 * endpoints of wellknown.c (MTA-STS policy, Thunderbird autoconfig,
 * Outlook autodiscover) that the published DNS records point at, and the
 * quarantine release links of quarantine.c. */
#ifndef MC_WEBD_H
#define MC_WEBD_H

#include <stdbool.h>

struct mc_config;
struct mg_connection;
struct mg_context;

/* Reads the [dns] settings of cfg and registers the well-known handlers
 * with ctx. On a bad [dns] setting it logs the error and registers
 * nothing (those paths then answer 404). Call once, after mg_start2. */
void mc_webd_wellknown_start(struct mg_context *ctx,
			     const struct mc_config *cfg);
/* Frees what start made; call after mg_stop. */
void mc_webd_wellknown_stop(void);

/* true when the request's path is a well-known endpoint: the
 * begin_request callback then returns 0 so that CivetWeb calls the
 * registered handler. */
bool mc_webd_wellknown_claims(const struct mg_connection *conn);

/* The quarantine release links (quarantine.c): registers the handler of
 * /quarantine/release with ctx ([webd] quarantine_secret empty: it answers
 * 404). Call once, after mg_start2; stop after mg_stop. */
void mc_webd_quarantine_start(struct mg_context *ctx,
			      const struct mc_config *cfg);
void mc_webd_quarantine_stop(void);
/* true when the request is for /quarantine/release (as for the
 * well-known paths, begin_request then returns 0). */
bool mc_webd_quarantine_claims(const struct mg_connection *conn);

#endif
